import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ensurePrograms, whichProgram } from "../../../src/stack/install.js";
import { REPO } from "../../support/compose-file.js";
import { DASHBOARD_FILES, metricNames, PROMETHEUS_DIR, RULE_FILES, rulesOf } from "../../support/metric-names.js";

let promtool: string;
beforeAll(() => {
  // Debian's `prometheus` package ships promtool; as root it is installed here on first use.
  promtool = ensurePrograms([{ name: "promtool", debianPackage: "prometheus", locate: () => whichProgram("promtool") }]).promtool!;
}, 600_000);

function runPromtool(args: string[]) {
  const result = spawnSync(promtool, args, { cwd: PROMETHEUS_DIR, encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const TEST_FILES = readdirSync(path.join(PROMETHEUS_DIR, "tests"))
  .filter((f) => f.endsWith(".test.yml"))
  .map((f) => path.join("tests", f));

interface UnitTestFile {
  rule_files: string[];
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
}

describe("deploy/prometheus (promtool)", { timeout: 60_000 }, () => {
  it("promtool check rules accepts every rule file", () => {
    const { status, output } = runPromtool(["check", "rules", ...RULE_FILES]);
    expect(output).not.toMatch(/FAILED/);
    expect(status).toBe(0);
  });

  it("promtool check config accepts the scrape config and the rule files it loads", () => {
    const { status, output } = runPromtool(["check", "config", "prometheus.yml"]);
    expect(status, output).toBe(0);
    for (const file of RULE_FILES) expect(output).toContain(`Checking ${path.relative(PROMETHEUS_DIR, file)}`);
  });

  it("promtool test rules passes every *.test.yml", () => {
    expect(TEST_FILES.length).toBeGreaterThan(0);
    const { status, output } = runPromtool(["test", "rules", ...TEST_FILES]);
    expect(status, output).toBe(0);
    expect(output.match(/SUCCESS/g)?.length).toBe(TEST_FILES.length);
  });

  it("every alert has a unit test in which it fires, and every rule file is tested", () => {
    const tests = TEST_FILES.map((f) => parse(readFileSync(path.join(PROMETHEUS_DIR, f), "utf8")) as UnitTestFile);
    const fired = new Set(tests.flatMap((t) => t.tests.flatMap((c) => (c.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname))));
    const alerts = RULE_FILES.flatMap(rulesOf).flatMap((r) => (r.alert ? [r.alert] : []));
    expect(alerts.length).toBeGreaterThan(10);
    expect(alerts.filter((a) => !fired.has(a))).toEqual([]);
    const tested = new Set(tests.flatMap((t) => t.rule_files.map((f) => path.resolve(PROMETHEUS_DIR, "tests", f))));
    expect(RULE_FILES.filter((f) => !tested.has(f))).toEqual([]);
  });

  it("covers what the operators asked for: token failures, Redis, latency, SLO burn, Postgres, lag, revocations, mail", () => {
    const alerts = RULE_FILES.flatMap(rulesOf).filter((r) => r.alert);
    const reading = (metric: string) => alerts.filter((r) => metricNames(r.expr).includes(metric)).map((r) => r.alert);
    expect(alerts.find((r) => r.alert === "AuthzTokenValidationFailuresHigh")?.expr).toMatch(/decision="deny",reason=~"invalid_token\|token_expired"/);
    for (const metric of ["auth_redis_up", "auth_postgres_up", "auth_replica_lag_seconds", "authz_revocations_subscribed", "auth_mail_outbox_oldest_pending_seconds", "authz_check_duration_seconds_bucket", "auth_rpc_duration_seconds_bucket", "authz_revocation_propagation_seconds_bucket", "authz_redis_errors_total", "auth_active_sessions"]) {
      expect(reading(metric), metric).not.toEqual([]);
    }
    // Burn-rate alerts pair a long and a short window (SRE workbook): both sides of each `and`.
    for (const name of ["AuthzCheckErrorBudgetBurnFast", "AuthSignInErrorBudgetBurnFast"]) {
      const expr = alerts.find((r) => r.alert === name)?.expr ?? "";
      expect(expr).toMatch(/ratio_rate1h > \(14\.4 \* 0\.001\) and \S+ratio_rate5m > \(14\.4 \* 0\.001\)/);
      expect(expr).toMatch(/ratio_rate6h > \(6 \* 0\.001\) and \S+ratio_rate30m > \(6 \* 0\.001\)/);
    }
  });
});

describe("deploy/grafana", () => {
  it("every dashboard panel's query parses as PromQL and uses the provisioned data source", () => {
    const datasource = parse(readFileSync(path.join(REPO, "deploy/grafana/provisioning/datasources/prometheus.yml"), "utf8")) as { datasources: Array<{ uid: string }> };
    for (const file of DASHBOARD_FILES) {
      const dashboard = JSON.parse(readFileSync(file, "utf8")) as { panels: Array<{ title: string; datasource: { uid: string }; targets: Array<{ expr: string }> }> };
      expect(dashboard.panels.length).toBeGreaterThan(5);
      for (const panel of dashboard.panels) {
        expect(panel.datasource.uid, panel.title).toBe(datasource.datasources[0]?.uid);
        for (const target of panel.targets) expect(metricNames(target.expr).length, `${panel.title}: ${target.expr}`).toBeGreaterThan(0);
      }
    }
  });
});
