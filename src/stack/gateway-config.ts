import { parse } from "yaml";
import type { Endpoint } from "./render-config.js";

/** One authz server: gRPC ext_authz for Envoy, HTTP forward-auth for nginx. */
export interface AuthzEndpoints {
  grpc: Endpoint;
  http: Endpoint;
}

export interface GatewayTargets {
  listen: Endpoint;
  auth: Endpoint;
  /** Every instance is used: round robin, and a dead one is skipped. */
  authz: AuthzEndpoints[];
  example: Endpoint;
  /** Envoy's rate limit service instances (src/ratelimit). Absent: no shared budgets; the filter and its cluster are left out. */
  ratelimit?: Endpoint[];
}

/** Settings of envoy.yaml's rate limiting that the launcher and tests choose. */
export interface EnvoyRenderOptions {
  /** The rate limit filter's `domain`; must equal the service's RATE_LIMIT_DOMAIN. Default: envoy.yaml's (gateway). */
  rateLimitDomain?: string;
  /** The per-instance flood guard's token bucket: `tokens` per `fillIntervalMs`. Default: envoy.yaml's (10000/1s). */
  floodGuard?: { tokens: number; fillIntervalMs: number };
}

const hostPort = (e: Endpoint) => `${e.host}:${e.port}`;
const PLACEHOLDER = /\{\{([A-Z_]+)\}\}/g;

/**
 * Fills nginx/nginx.conf.template. The line naming {{AUTHZ_HTTP}} is repeated once per authz
 * instance so one upstream balances over all of them. Throws on a placeholder without a value.
 */
export function renderNginxConfig(template: string, targets: GatewayTargets, paths: { runDir: string; accessLog: string }): string {
  if (targets.authz.length === 0) throw new Error("the gateway needs at least one authz instance");
  const values: Record<string, string> = {
    LISTEN: hostPort(targets.listen),
    AUTH: hostPort(targets.auth),
    EXAMPLE: hostPort(targets.example),
    RUN_DIR: paths.runDir,
    ACCESS_LOG: paths.accessLog,
  };
  const lines = template.split("\n").flatMap((line) =>
    line.includes("{{AUTHZ_HTTP}}") && !line.trimStart().startsWith("#")
      ? targets.authz.map((a) => line.replaceAll("{{AUTHZ_HTTP}}", hostPort(a.http)))
      : [line],
  );
  const missing = new Set<string>();
  const out = lines
    .join("\n")
    .replace(PLACEHOLDER, (whole, name: string, offset: number, text: string) => {
      // Placeholders in comments are documentation, not slots.
      if (text.lastIndexOf("#", offset) > text.lastIndexOf("\n", offset)) return whole;
      const value = values[name];
      if (value === undefined) missing.add(name);
      return value ?? "";
    });
  if (missing.size > 0) throw new Error(`nginx template placeholders without a value: ${[...missing].join(", ")}`);
  return out;
}

type Json = Record<string, unknown>;
interface HttpFilter {
  name: string;
  typed_config: Json;
}
interface Cluster {
  name: string;
  load_assignment: { endpoints: Array<{ lb_endpoints: unknown[] }> };
}

const socketAddress = (e: Endpoint) => ({ socket_address: { address: e.host, port_value: e.port } });

/**
 * envoy/envoy.yaml with the real ports: the listener, the admin port, and each cluster's
 * endpoints (one per authz instance). Returned as JSON, which Envoy reads as well as YAML.
 */
export function renderEnvoyConfig(yamlText: string, targets: GatewayTargets, adminPort: number, options: EnvoyRenderOptions = {}): string {
  if (targets.authz.length === 0) throw new Error("the gateway needs at least one authz instance");
  const config = parse(yamlText, { maxAliasCount: -1 }) as {
    admin: { address: Json };
    static_resources: {
      listeners: Array<{ name: string; address: Json; filter_chains: Array<{ filters: Array<{ typed_config: { http_filters?: HttpFilter[] } }> }> }>;
      clusters: Cluster[];
    };
  };
  config.admin.address = socketAddress({ host: "127.0.0.1", port: adminPort });
  const listener = config.static_resources.listeners.find((l) => l.name === "gateway");
  if (!listener) throw new Error('envoy.yaml has no listener named "gateway"');
  listener.address = socketAddress(targets.listen);
  const limited = (targets.ratelimit ?? []).length > 0;
  const endpoints: Record<string, Endpoint[]> = {
    authz: targets.authz.map((a) => a.grpc),
    auth: [targets.auth],
    example: [targets.example],
    ...(limited ? { ratelimit: targets.ratelimit ?? [] } : {}),
  };
  for (const [name, list] of Object.entries(endpoints)) {
    const cluster = config.static_resources.clusters.find((c) => c.name === name);
    if (!cluster) throw new Error(`envoy.yaml has no cluster named "${name}"`);
    cluster.load_assignment.endpoints = [{ lb_endpoints: list.map((e) => ({ endpoint: { address: socketAddress(e) } })) }];
  }
  // Without a rate limit service there is nothing to ask: drop the filter rather than fail open on every request.
  if (!limited) config.static_resources.clusters = config.static_resources.clusters.filter((c) => c.name !== "ratelimit");
  for (const l of config.static_resources.listeners) {
    for (const hcm of l.filter_chains.flatMap((chain) => chain.filters.map((f) => f.typed_config))) {
      if (!hcm.http_filters) continue;
      if (!limited) hcm.http_filters = hcm.http_filters.filter((f) => f.name !== "envoy.filters.http.ratelimit");
      for (const filter of hcm.http_filters) {
        if (filter.name === "envoy.filters.http.ratelimit" && options.rateLimitDomain) filter.typed_config.domain = options.rateLimitDomain;
        if (filter.name === "envoy.filters.http.local_ratelimit" && options.floodGuard) {
          const { tokens, fillIntervalMs } = options.floodGuard;
          filter.typed_config.token_bucket = { max_tokens: tokens, tokens_per_fill: tokens, fill_interval: `${fillIntervalMs / 1000}s` };
          filter.typed_config.response_headers_to_add = [
            { header: { key: "retry-after", value: String(Math.max(1, Math.ceil(fillIntervalMs / 1000))) }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
          ];
        }
      }
    }
  }
  return `${JSON.stringify(config, null, 2)}\n`;
}
