/**
 * Writes envoy/envoy.yaml as compose needs it, for the Envoy container to read: the clusters point
 * at compose service names instead of 127.0.0.1, and the listener binds every interface of the
 * container. The addresses are filled by renderEnvoyConfig (src/stack/gateway-config.ts), the
 * same code the local launcher uses, so routes, filters and health checks stay exactly the file's.
 *
 * envoy.yaml's clusters are STATIC, which takes only IP addresses; here they become STRICT_DNS:
 * Envoy resolves the service name and keeps re-resolving it, so a recreated container (new IP) or
 * `docker compose up --scale authz=3` (one address per instance) is followed without a restart.
 *
 * Usage: node --import tsx docker/render-envoy.ts TEMPLATE OUTPUT
 * Environment: GATEWAY_LISTEN (0.0.0.0:8080), ENVOY_ADMIN_PORT (9901), AUTH_ADDR (auth:7001),
 * AUTHZ_GRPC_ADDR (authz:7002), AUTHZ_HTTP_ADDR (authz:7003), EXAMPLE_ADDR (example-upstream:7010),
 * RATELIMIT_ADDR (ratelimit:7004), RATE_LIMIT_DOMAIN (gateway, as the rate limit service's),
 * OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (unset: no tracing), as the services read them.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { renderEnvoyConfig } from "../src/stack/gateway-config.js";
import type { Endpoint } from "../src/stack/render-config.js";
import { loadTracingConfig } from "../src/platform/tracing.js";

type Env = Record<string, string | undefined>;

function endpoint(env: Env, name: string, fallback: string): Endpoint {
  const value = env[name] || fallback;
  const match = /^([^:\s]+):(\d{1,5})$/.exec(value);
  if (!match?.[1] || !match[2]) throw new Error(`${name} must be host:port, got "${value}"`);
  return { host: match[1], port: Number(match[2]) };
}

function tracing(env: Env): { tracesUrl?: string } {
  const tracesUrl = loadTracingConfig(env, "gateway")?.tracesUrl;
  return tracesUrl ? { tracesUrl } : {};
}

export function renderComposeEnvoy(template: string, env: Env): string {
  const adminPort = Number(env.ENVOY_ADMIN_PORT || "9901");
  if (!Number.isInteger(adminPort) || adminPort < 1 || adminPort > 65535) throw new Error(`ENVOY_ADMIN_PORT must be a port, got "${env.ENVOY_ADMIN_PORT}"`);
  const rendered = renderEnvoyConfig(
    template,
    {
      listen: endpoint(env, "GATEWAY_LISTEN", "0.0.0.0:8080"),
      auth: [endpoint(env, "AUTH_ADDR", "auth:7001")],
      authz: [{ grpc: endpoint(env, "AUTHZ_GRPC_ADDR", "authz:7002"), http: endpoint(env, "AUTHZ_HTTP_ADDR", "authz:7003") }],
      example: endpoint(env, "EXAMPLE_ADDR", "example-upstream:7010"),
      ratelimit: [endpoint(env, "RATELIMIT_ADDR", "ratelimit:7004")],
    },
    { adminPort, rateLimitDomain: env.RATE_LIMIT_DOMAIN || "gateway", ...tracing(env) },
  );
  const config = JSON.parse(rendered) as { static_resources: { clusters: Array<{ type?: string }> } };
  for (const cluster of config.static_resources.clusters) cluster.type = "STRICT_DNS";
  return `${JSON.stringify(config, null, 2)}\n`;
}

// Run as a script (the compose one-shot); imported, it only provides renderComposeEnvoy.
if (import.meta.filename === process.argv[1]) {
  const [template, output] = process.argv.slice(2);
  if (!template || !output) {
    process.stderr.write("usage: render-envoy.ts TEMPLATE OUTPUT\n");
    process.exit(64);
  }
  try {
    writeFileSync(output, renderComposeEnvoy(readFileSync(template, "utf8"), process.env));
    process.stdout.write(`envoy config written to ${output}\n`);
  } catch (error) {
    process.stderr.write(`render-envoy: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
