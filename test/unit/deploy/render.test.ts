import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { renderComposeEnvoy } from "../../../docker/render-envoy.js";
import { renderEnvoyConfig } from "../../../src/stack/gateway-config.js";
import { loadEnvoyApi } from "../../support/envoy-api.js";
import { environmentOf, REPO } from "../../support/compose-file.js";

const tmp = mkdtempSync(path.join(tmpdir(), "deploy-render-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs a docker/ script with sh, as the containers do, with only `env` (and PATH) set. */
function sh(script: string, args: string[], env: Record<string, string>) {
  const result = spawnSync("sh", [path.join(REPO, "docker", script), ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    encoding: "utf8",
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const LEFTOVER = /\$\{[A-Z][A-Z0-9_]*\}/;

describe("docker/render-template.sh (PgBouncer's templates)", () => {
  // The compose service's environment plus what docker/pgbouncer-entrypoint.sh exports.
  const env: Record<string, string> = { ...environmentOf("pgbouncer"), AUTH_FILE: "/tmp/pgbouncer/userlist.txt", PID_FILE: "/tmp/pgbouncer/pgbouncer.pid", SOCKET_DIR: "/tmp/pgbouncer" };

  it("fills pgbouncer.ini from the compose environment", () => {
    const { status, stdout, stderr } = sh("render-template.sh", [path.join(REPO, "pgbouncer/pgbouncer.ini")], env);
    expect(stderr).toBe("");
    expect(status).toBe(0);
    expect(stdout).not.toMatch(LEFTOVER);
    expect(stdout).toMatch(/^auth = host=postgres-primary port=5432 dbname=auth$/m);
    expect(stdout).toMatch(/^listen_addr = 0\.0\.0\.0$/m);
    expect(stdout).toMatch(/^listen_port = 6432$/m);
    expect(stdout).toMatch(/^auth_file = \/tmp\/pgbouncer\/userlist\.txt$/m);
    expect(stdout).toMatch(/^pool_mode = transaction$/m);
    // Every other line is the template's own.
    const template = readFileSync(path.join(REPO, "pgbouncer/pgbouncer.ini"), "utf8");
    expect(stdout.split("\n").length).toBe(template.split("\n").length + (template.endsWith("\n") ? 0 : 1));
  });

  it("writes the app role's password into the auth file", () => {
    const { status, stdout } = sh("render-template.sh", [path.join(REPO, "pgbouncer/userlist.txt")], env);
    expect(status).toBe(0);
    expect(stdout.trim().split("\n").at(-1)).toBe(`"auth" "${env.AUTH_SECRET}"`);
  });

  it("refuses a placeholder without a value, naming it, and prints nothing", () => {
    const { AUTH_SECRET: _, ...withoutSecret } = env;
    const { status, stdout, stderr } = sh("render-template.sh", [path.join(REPO, "pgbouncer/userlist.txt")], withoutSecret);
    expect(status).not.toBe(0);
    expect(stderr).toContain("${AUTH_SECRET}");
    expect(stdout).toBe("");
  });

  it("copies values verbatim, whatever characters they hold", () => {
    const template = path.join(tmp, "verbatim.tpl");
    writeFileSync(template, "a=${A} b=${B}\n");
    const { stdout } = sh("render-template.sh", [template], { A: "x&y\\1$z", B: "q/r|s" });
    expect(stdout).toBe("a=x&y\\1$z b=q/r|s\n");
  });
});

describe("docker/render-haproxy.sh", () => {
  const render = (env: Record<string, string>) => sh("render-haproxy.sh", [path.join(REPO, "haproxy/haproxy.cfg")], env);

  it("expands the replica line once per compose replica, keeping the primary as backup", () => {
    const { status, stdout, stderr } = render(environmentOf("haproxy"));
    expect(stderr).toBe("");
    expect(status).toBe(0);
    expect(stdout).not.toMatch(LEFTOVER);
    expect(stdout).not.toMatch(/# @each replica\s*$/m);
    const servers = stdout.split("\n").filter((line) => /^\s*server /.test(line)).map((line) => line.trim());
    expect(servers).toEqual([
      "server replica-0 postgres-replica-0:5432 check",
      "server replica-1 postgres-replica-1:5432 check",
      "server replica-2 postgres-replica-2:5432 check",
      "server primary postgres-primary:5432 check backup",
    ]);
    expect(stdout).toMatch(/bind 0\.0\.0\.0:5432$/m);
    expect(stdout).toMatch(/option pgsql-check user auth$/m);
  });

  it("renders a config `haproxy -c` accepts", () => {
    // The compose host names do not resolve here and HAProxy resolves them while parsing:
    // addresses stand in for them, everything else is the compose render.
    const env = { ...environmentOf("haproxy"), PRIMARY_HOST: "127.0.0.1", REPLICA_HOSTS: "127.0.0.2 127.0.0.3 127.0.0.4" };
    const { status, stdout } = render(env);
    expect(status).toBe(0);
    const file = path.join(tmp, "haproxy.cfg");
    writeFileSync(file, stdout);
    const check = spawnSync("haproxy", ["-c", "-f", file], { encoding: "utf8" });
    expect(check.error).toBeUndefined();
    expect(`${check.stdout}${check.stderr}`).toContain("Configuration file is valid");
    expect(check.status).toBe(0);
  });

  it("refuses to render without the replica list", () => {
    const { REPLICA_HOSTS: _, ...env } = environmentOf("haproxy");
    const { status, stdout, stderr } = render(env);
    expect(status).not.toBe(0);
    expect(stderr).toContain("REPLICA_HOSTS");
    expect(stdout).toBe("");
  });
});

describe("docker/render-envoy.ts", () => {
  const template = readFileSync(path.join(REPO, "envoy/envoy.yaml"), "utf8");
  const env = environmentOf("envoy-config");
  type Address = { socket_address: { address: string; port_value: number } };
  type Config = {
    admin: { address: Address };
    static_resources: {
      listeners: Array<{ address: Address }>;
      clusters: Array<{ name: string; type: string; load_assignment: { endpoints: Array<{ lb_endpoints: Array<{ endpoint: { address: Address } }> }> } }>;
    };
  };
  const rendered = JSON.parse(renderComposeEnvoy(template, env)) as Config;

  it("points the clusters at the compose services, resolved by DNS", () => {
    const targets = Object.fromEntries(
      rendered.static_resources.clusters.map((c) => [
        c.name,
        { type: c.type, at: c.load_assignment.endpoints.flatMap((e) => e.lb_endpoints.map((l) => `${l.endpoint.address.socket_address.address}:${l.endpoint.address.socket_address.port_value}`)) },
      ]),
    );
    expect(targets).toEqual({
      authz: { type: "STRICT_DNS", at: ["authz:7002"] },
      auth: { type: "STRICT_DNS", at: ["auth:7001"] },
      example: { type: "STRICT_DNS", at: ["example-upstream:7010"] },
      ratelimit: { type: "STRICT_DNS", at: ["ratelimit:7004"] },
    });
    expect(rendered.static_resources.listeners[0]?.address.socket_address).toEqual({ address: "0.0.0.0", port_value: 8080 });
    // Admin stays inside the container: the healthcheck asks it there.
    expect(rendered.admin.address.socket_address).toEqual({ address: "127.0.0.1", port_value: 9901 });
  });

  it("changes nothing else in envoy.yaml", () => {
    const base = JSON.parse(
      renderEnvoyConfig(
        template,
        {
          listen: { host: "0.0.0.0", port: 8080 },
          auth: [{ host: "auth", port: 7001 }],
          authz: [{ grpc: { host: "authz", port: 7002 }, http: { host: "authz", port: 7003 } }],
          example: { host: "example-upstream", port: 7010 },
          ratelimit: [{ host: "ratelimit", port: 7004 }],
        },
        { adminPort: 9901, rateLimitDomain: "gateway" },
      ),
    ) as Config;
    for (const cluster of base.static_resources.clusters) cluster.type = "STRICT_DNS";
    expect(rendered).toEqual(base);
  });

  it("uses a cluster type Envoy's v3 API has", () => {
    const discoveryType = loadEnvoyApi().lookupEnum("envoy.config.cluster.v3.Cluster.DiscoveryType");
    expect(Object.keys(discoveryType.values)).toContain("STRICT_DNS");
  });

  it("writes the same file when run as the compose one-shot runs it", () => {
    const output = path.join(tmp, "envoy.json");
    const result = spawnSync(process.execPath, ["--import", "tsx", path.join(REPO, "docker/render-envoy.ts"), path.join(REPO, "envoy/envoy.yaml"), output], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? "", ...env },
      encoding: "utf8",
    });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(JSON.parse(readFileSync(output, "utf8"))).toEqual(rendered);
  });
});
