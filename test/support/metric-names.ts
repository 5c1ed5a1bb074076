import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parser } from "@prometheus-io/lezer-promql";
import { parse } from "yaml";
import { REPO } from "./compose-file.js";

/** What the deploy tests read of a Prometheus rule file. */
export interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ record?: string; alert?: string; expr: string }> }>;
}

export const PROMETHEUS_DIR = path.join(REPO, "deploy/prometheus");
export const RULE_FILES = readdirSync(path.join(PROMETHEUS_DIR, "rules"))
  .filter((f) => f.endsWith(".rules.yml"))
  .map((f) => path.join(PROMETHEUS_DIR, "rules", f));
export const DASHBOARD_FILES = readdirSync(path.join(REPO, "deploy/grafana/dashboards")).map((f) => path.join(REPO, "deploy/grafana/dashboards", f));

export const rulesOf = (file: string) => (parse(readFileSync(file, "utf8")) as RuleFile).groups.flatMap((g) => g.rules);

/** Grafana's interval variables are not PromQL: give them a duration before parsing. */
const GRAFANA_VARIABLES = /\$__(rate_interval|interval|range)/g;

/** The metric names an expression selects (PromQL's own grammar, not a regex); throws on a syntax error. */
export function metricNames(expr: string): string[] {
  const text = expr.replace(GRAFANA_VARIABLES, "5m");
  const names: string[] = [];
  let error: number | undefined;
  parser.parse(text).iterate({
    enter(node) {
      if (node.type.isError) error ??= node.from;
      if (node.name === "VectorSelector") {
        const identifier = node.node.getChild("Identifier");
        if (identifier) names.push(text.slice(identifier.from, identifier.to));
      }
    },
  });
  if (error !== undefined) throw new Error(`PromQL syntax error at ${error} in: ${expr}`);
  return names;
}

/** Every metric a rule file or dashboard reads, minus the ones the rules themselves record. */
export function metricsRead(): Map<string, string[]> {
  const recorded = new Set(RULE_FILES.flatMap(rulesOf).flatMap((r) => (r.record ? [r.record] : [])));
  const reads = new Map<string, string[]>();
  const note = (name: string, where: string) => reads.set(name, [...(reads.get(name) ?? []), where]);
  for (const file of RULE_FILES) {
    for (const rule of rulesOf(file)) for (const name of metricNames(rule.expr)) note(name, `${path.basename(file)} ${rule.alert ?? rule.record}`);
  }
  for (const file of DASHBOARD_FILES) {
    const dashboard = JSON.parse(readFileSync(file, "utf8")) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    for (const panel of dashboard.panels) for (const target of panel.targets) for (const name of metricNames(target.expr)) note(name, `${path.basename(file)} "${panel.title}"`);
  }
  for (const name of recorded) reads.delete(name);
  return reads;
}
