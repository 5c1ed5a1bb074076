import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { renderEnvoyConfig, renderNginxConfig, type GatewayTargets } from "../../../src/stack/gateway-config.js";
import { loadGatewayConfig } from "../../../src/stack/gateway.js";
import { DEFAULT_PUBLIC_PREFIXES } from "../../../src/authz/config.js";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const at = (port: number) => ({ host: "127.0.0.1", port });
const targets: GatewayTargets = {
  listen: at(18080),
  auth: at(17001),
  authz: [
    { grpc: at(17002), http: at(17003) },
    { grpc: at(17012), http: at(17013) },
  ],
  example: at(17010),
};

describe("gateway config rendering", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "gateway-conf-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("renders nginx with one upstream server per authz instance, accepted by `nginx -t`", () => {
    const text = renderNginxConfig(readFileSync(path.join(ROOT, "nginx/nginx.conf.template"), "utf8"), targets, { runDir: dir, accessLog: path.join(dir, "a.log") });
    expect(/upstream authz \{([^}]*)\}/.exec(text)?.[1]).toMatch(
      /^\s*server 127\.0\.0\.1:17003 max_fails=2 fail_timeout=5s;\s*server 127\.0\.0\.1:17013 max_fails=2 fail_timeout=5s;\s*keepalive 64;\s*keepalive_timeout 55s;\s*keepalive_requests 10000;\s*$/,
    );
    expect(text).toContain("listen 127.0.0.1:18080;");
    expect(text.split("\n").filter((l) => !l.trimStart().startsWith("#")).join("\n")).not.toMatch(/\{\{/);
    const file = path.join(dir, "nginx.conf");
    writeFileSync(file, text);
    expect(() => execFileSync("nginx", ["-t", "-q", "-e", "stderr", "-p", dir, "-c", file], { stdio: "pipe" })).not.toThrow();
  });

  it("renders envoy.yaml with the real ports and every authz endpoint", () => {
    const config = JSON.parse(renderEnvoyConfig(readFileSync(path.join(ROOT, "envoy/envoy.yaml"), "utf8"), targets, 19901));
    const ports = (name: string) =>
      config.static_resources.clusters
        .find((c: { name: string }) => c.name === name)
        .load_assignment.endpoints[0].lb_endpoints.map((e: { endpoint: { address: { socket_address: { port_value: number } } } }) => e.endpoint.address.socket_address.port_value);
    expect(ports("authz")).toEqual([17002, 17012]);
    expect(ports("auth")).toEqual([17001]);
    expect(ports("example")).toEqual([17010]);
    expect(config.static_resources.listeners[0].address.socket_address).toEqual({ address: "127.0.0.1", port_value: 18080 });
    expect(config.admin.address.socket_address.port_value).toBe(19901);
    // The YAML anchor for "no ext_authz on public routes" survives as a copy on each route.
    const routes = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes;
    // Envoy exempts from the Check exactly the routes the authz server itself treats as public.
    expect(routes.filter((r: { typed_per_filter_config?: unknown }) => r.typed_per_filter_config).length).toBe(DEFAULT_PUBLIC_PREFIXES.length);
  });

  it("refuses a gateway without authz", () => {
    expect(() => renderNginxConfig("", { ...targets, authz: [] }, { runDir: dir, accessLog: "x" })).toThrow(/at least one authz/);
  });

  it("reads GATEWAY_PORT and GATEWAY_PROXY, naming the variable on a bad value", () => {
    expect(loadGatewayConfig({})).toEqual({ port: 8080 });
    expect(loadGatewayConfig({ GATEWAY_PORT: "9000", GATEWAY_PROXY: "nginx" })).toEqual({ port: 9000, proxy: "nginx" });
    expect(() => loadGatewayConfig({ GATEWAY_PORT: "http", GATEWAY_PROXY: "caddy" })).toThrow(/GATEWAY_PORT[\s\S]*GATEWAY_PROXY/);
  });
});
