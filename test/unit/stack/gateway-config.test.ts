import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { renderEnvoyConfig, renderNginxConfig } from "../../../src/stack/gateway-config.js";
import { loadGatewayConfig } from "../../../src/stack/gateway.js";
import { DEFAULT_PUBLIC_PREFIXES } from "../../../src/authz/config.js";
import { SAMPLE_TARGETS } from "../../support/gateway-targets.js";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const at = (port: number) => ({ host: "127.0.0.1", port });
const targets = SAMPLE_TARGETS;

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
    const config = JSON.parse(renderEnvoyConfig(readFileSync(path.join(ROOT, "envoy/envoy.yaml"), "utf8"), targets, { adminPort: 19901 }));
    const ports = (name: string) =>
      config.static_resources.clusters
        .find((c: { name: string }) => c.name === name)
        .load_assignment.endpoints[0].lb_endpoints.map((e: { endpoint: { address: { socket_address: { port_value: number } } } }) => e.endpoint.address.socket_address.port_value);
    expect(ports("authz")).toEqual([17002, 17012]);
    expect(ports("auth")).toEqual([17001, 17004]);
    expect(ports("example")).toEqual([17010]);
    expect(config.static_resources.listeners[0].address.socket_address).toEqual({ address: "127.0.0.1", port_value: 18080 });
    expect(config.admin.address.socket_address.port_value).toBe(19901);
    // The YAML anchor for "no ext_authz on public routes" survives as a copy on each route.
    const routes = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes;
    // Envoy exempts from the Check exactly the routes the authz server itself treats as public
    // (some twice: a GET and a POST route with different retry policies).
    type Route = { match: { path?: string; prefix?: string }; typed_per_filter_config?: unknown };
    const exempt = routes.filter((r: Route) => r.typed_per_filter_config).map((r: Route) => r.match.path ?? r.match.prefix);
    expect(new Set(exempt)).toEqual(new Set(DEFAULT_PUBLIC_PREFIXES));
  });

  it("renders Envoy without ext_authz only when asked (the benchmark's baseline)", () => {
    const filters = (withoutCheck: boolean) =>
      JSON.parse(renderEnvoyConfig(readFileSync(path.join(ROOT, "envoy/envoy.yaml"), "utf8"), targets, { adminPort: 19901, withoutCheck }))
        .static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters.map((f: { name: string }) => f.name);
    expect(filters(false)).toContain("envoy.filters.http.ext_authz");
    expect(filters(true)).not.toContain("envoy.filters.http.ext_authz");
    expect(filters(true)).toContain("envoy.filters.http.router");
  });

  it("points the ratelimit cluster at every rate limit service, and leaves filter and cluster out without one", () => {
    const yaml = readFileSync(path.join(ROOT, "envoy/envoy.yaml"), "utf8");
    const httpFilters = (config: Record<string, any>) =>
      config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters as Array<{ name: string; typed_config: Record<string, any> }>;
    const withService = JSON.parse(
      renderEnvoyConfig(yaml, { ...targets, ratelimit: [at(17004), at(17014)] }, { adminPort: 19901, rateLimitDomain: "edge-a", floodGuard: { tokens: 50, fillIntervalMs: 500 } }),
    );
    const cluster = withService.static_resources.clusters.find((c: { name: string }) => c.name === "ratelimit");
    expect(cluster.load_assignment.endpoints[0].lb_endpoints.map((e: any) => e.endpoint.address.socket_address.port_value)).toEqual([17004, 17014]);
    expect(httpFilters(withService).find((f) => f.name === "envoy.filters.http.ratelimit")?.typed_config.domain).toBe("edge-a");
    const guard = httpFilters(withService).find((f) => f.name === "envoy.filters.http.local_ratelimit")?.typed_config;
    expect(guard?.token_bucket).toEqual({ max_tokens: 50, tokens_per_fill: 50, fill_interval: "0.5s" });
    expect(guard?.response_headers_to_add).toEqual([{ header: { key: "retry-after", value: "1" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }]);

    const without = JSON.parse(renderEnvoyConfig(yaml, targets, { adminPort: 19901 }));
    expect(without.static_resources.clusters.map((c: { name: string }) => c.name)).not.toContain("ratelimit");
    expect(httpFilters(without).map((f) => f.name)).not.toContain("envoy.filters.http.ratelimit");
    expect(httpFilters(without).map((f) => f.name)).toContain("envoy.filters.http.local_ratelimit");
    const unguarded = JSON.parse(renderEnvoyConfig(yaml, targets, { adminPort: 19901, floodGuard: "off" }));
    expect(httpFilters(unguarded).map((f) => f.name)).not.toContain("envoy.filters.http.local_ratelimit");
  });

  it("renders the HTTPS listener with its port and files and sends the browser redirect there; without TLS, neither", () => {
    const yaml = readFileSync(path.join(ROOT, "envoy/envoy.yaml"), "utf8");
    const routesOf = (listener: Record<string, any>) => listener.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes as Array<Record<string, any>>;
    const tls = { listen: at(18443), certFile: "/srv/edge/cert.pem", keyFile: "/srv/edge/key.pem" };
    const withTls = JSON.parse(renderEnvoyConfig(yaml, targets, { adminPort: 19901, tls }));
    const [plain, secure] = withTls.static_resources.listeners;
    expect(secure.name).toBe("gateway_tls");
    expect(secure.address.socket_address).toEqual({ address: "127.0.0.1", port_value: 18443 });
    expect(secure.filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates).toEqual([
      { certificate_chain: { filename: "/srv/edge/cert.pem" }, private_key: { filename: "/srv/edge/key.pem" } },
    ]);
    for (const listener of [plain, secure]) expect(routesOf(listener)[0]?.redirect).toEqual({ https_redirect: true, port_redirect: 18443, response_code: "FOUND" });

    const without = JSON.parse(renderEnvoyConfig(yaml, targets, { adminPort: 19901 }));
    expect(without.static_resources.listeners.map((l: { name: string }) => l.name)).toEqual(["gateway"]);
    expect(routesOf(without.static_resources.listeners[0]).filter((r) => r.redirect)).toEqual([]);
  });

  it("traces through the opentelemetry cluster only when a collector is given, on both listeners", () => {
    const yaml = readFileSync(path.join(ROOT, "envoy/envoy.yaml"), "utf8");
    const tls = { listen: at(18443), certFile: "/srv/edge/cert.pem", keyFile: "/srv/edge/key.pem" };
    const hcms = (config: Record<string, any>) => config.static_resources.listeners.map((l: Record<string, any>) => l.filter_chains[0].filters[0].typed_config);
    const clusterOf = (config: Record<string, any>) => config.static_resources.clusters.find((c: { name: string }) => c.name === "opentelemetry");

    const traced = JSON.parse(renderEnvoyConfig(yaml, targets, { adminPort: 19901, tls, tracesUrl: "http://127.0.0.1:14318/v1/traces" }));
    expect(hcms(traced)).toHaveLength(2);
    for (const hcm of hcms(traced)) {
      expect(hcm.tracing.provider.typed_config.http_service.http_uri).toEqual({ uri: "http://127.0.0.1:14318/v1/traces", cluster: "opentelemetry", timeout: "1s" });
      expect(hcm.tracing.custom_tags).toEqual([{ tag: "request.id", request_header: { name: "x-request-id" } }]);
    }
    expect(clusterOf(traced)).toMatchObject({ type: "STATIC", load_assignment: { endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 14318 } } } }] }] } });
    const byName = JSON.parse(renderEnvoyConfig(yaml, targets, { adminPort: 19901, tracesUrl: "http://otel-collector:4318/v1/traces" }));
    expect(clusterOf(byName)).toMatchObject({ type: "STRICT_DNS", load_assignment: { endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "otel-collector", port_value: 4318 } } } }] }] } });
    expect(() => renderEnvoyConfig(yaml, targets, { adminPort: 19901, tracesUrl: "https://collector:4318/v1/traces" })).toThrow(/plain HTTP/);

    const untraced = JSON.parse(renderEnvoyConfig(yaml, targets, { adminPort: 19901, tls }));
    expect(clusterOf(untraced)).toBeUndefined();
    for (const hcm of hcms(untraced)) expect(hcm.tracing).toBeUndefined();
  });

  it("refuses a gateway without authz", () => {
    expect(() => renderNginxConfig("", { ...targets, authz: [] }, { runDir: dir, accessLog: "x" })).toThrow(/at least one authz/);
    expect(() => renderEnvoyConfig("", { ...targets, auth: [] }, { adminPort: 1 })).toThrow(/at least one auth instance/);
  });

  it("reads GATEWAY_PORT and GATEWAY_PROXY, naming the variable on a bad value", () => {
    expect(loadGatewayConfig({})).toEqual({ port: 8080 });
    expect(loadGatewayConfig({ GATEWAY_PORT: "9000", GATEWAY_PROXY: "nginx" })).toEqual({ port: 9000, proxy: "nginx" });
    expect(() => loadGatewayConfig({ GATEWAY_PORT: "http", GATEWAY_PROXY: "caddy" })).toThrow(/GATEWAY_PORT[\s\S]*GATEWAY_PROXY/);
  });
});
