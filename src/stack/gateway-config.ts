import { isIP } from "node:net";
import { parse } from "yaml";
import type { FloodGuard } from "./edge-config.js";
import type { Endpoint } from "./render-config.js";

/** One authz server: gRPC ext_authz for Envoy, HTTP forward-auth for nginx. */
export interface AuthzEndpoints {
  grpc: Endpoint;
  http: Endpoint;
}

export interface GatewayTargets {
  listen: Endpoint;
  /** Every instance of each is used: round robin, and a dead one is skipped. */
  auth: Endpoint[];
  authz: AuthzEndpoints[];
  example: Endpoint;
  /** Envoy's rate limit service instances (src/ratelimit). Absent: no shared budgets; the filter and its cluster are left out. */
  ratelimit?: Endpoint[];
}

/** What the launcher and tests choose when rendering envoy.yaml. */
export interface EnvoyRenderOptions {
  adminPort: number;
  /** Drops the ext_authz filter: the benchmark's baseline for what the Check costs. */
  withoutCheck?: boolean;
  /** The rate limit filter's `domain`; must equal the service's RATE_LIMIT_DOMAIN. Default: envoy.yaml's (gateway). */
  rateLimitDomain?: string;
  /** The per-instance flood guard's token bucket, `tokens` per `fillIntervalMs`, or off. Default: envoy.yaml's (10000/1s). */
  floodGuard?: FloodGuard;
  /** The HTTPS listener (gateway_tls) and its PEM files. Absent: no HTTPS listener, and no redirect to one. */
  tls?: { listen: Endpoint; certFile: string; keyFile: string };
  /**
   * How long Envoy waits for a Check and a rate-limit answer. Default: envoy.yaml's 0.25 s, what a
   * deployment runs; test harnesses on a shared, loaded machine give it more room.
   */
  calloutTimeoutMs?: number;
  /**
   * OTLP/HTTP traces URL (http://collector:4318/v1/traces) the gateway's spans go to. Absent: no
   * tracing, and neither the HCMs' tracing block nor the opentelemetry cluster is rendered.
   */
  tracesUrl?: string;
}

const hostPort = (e: Endpoint) => `${e.host}:${e.port}`;
const PLACEHOLDER = /\{\{([A-Z_]+)\}\}/g;

/**
 * Fills nginx/nginx.conf.template. A line naming {{AUTH}} or {{AUTHZ_HTTP}} is repeated once per
 * instance so one upstream balances over all of them. Throws on a placeholder without a value.
 */
export function renderNginxConfig(template: string, targets: GatewayTargets, paths: { runDir: string; accessLog: string }): string {
  requireInstances(targets);
  const repeated: Record<string, string[]> = { "{{AUTH}}": targets.auth.map(hostPort), "{{AUTHZ_HTTP}}": targets.authz.map((a) => hostPort(a.http)) };
  const values: Record<string, string> = {
    LISTEN: hostPort(targets.listen),
    EXAMPLE: hostPort(targets.example),
    RUN_DIR: paths.runDir,
    ACCESS_LOG: paths.accessLog,
  };
  const lines = template.split("\n").flatMap((line) => {
    const slot = Object.keys(repeated).find((name) => line.includes(name));
    return slot && !line.trimStart().startsWith("#") ? repeated[slot]!.map((value) => line.replaceAll(slot, value)) : [line];
  });
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
interface Route {
  redirect?: { https_redirect?: boolean; port_redirect?: number };
}
interface Hcm {
  tracing?: { provider: { typed_config: { http_service: { http_uri: { uri: string } } } } };
  http_filters?: HttpFilter[];
  route_config?: { virtual_hosts: Array<{ routes: Route[] }> };
}
interface Listener {
  name: string;
  address: Json;
  filter_chains: Array<{ transport_socket?: { typed_config: { common_tls_context: { tls_certificates: Json[] } } }; filters: Array<{ typed_config: Hcm }> }>;
}
interface Cluster {
  name: string;
  type?: string;
  load_assignment: { endpoints: Array<{ lb_endpoints: unknown[] }> };
}
interface StaticResources {
  listeners: Listener[];
  clusters: Cluster[];
}

const socketAddress = (e: Endpoint) => ({ socket_address: { address: e.host, port_value: e.port } });
function requireInstances(targets: GatewayTargets): void {
  if (targets.auth.length === 0) throw new Error("the gateway needs at least one auth instance");
  if (targets.authz.length === 0) throw new Error("the gateway needs at least one authz instance");
}

const connectionManagers = (resources: StaticResources) => resources.listeners.flatMap((l) => l.filter_chains.flatMap((chain) => chain.filters.map((f) => f.typed_config)));

/**
 * envoy/envoy.yaml with the real ports: the listeners, the admin port, and each cluster's
 * endpoints (one per instance). Returned as JSON, which Envoy reads as well as YAML.
 */
export function renderEnvoyConfig(yamlText: string, targets: GatewayTargets, options: EnvoyRenderOptions): string {
  requireInstances(targets);
  const config = parse(yamlText, { maxAliasCount: -1 }) as { admin: { address: Json }; static_resources: StaticResources };
  const resources = config.static_resources;
  config.admin.address = socketAddress({ host: "127.0.0.1", port: options.adminPort });
  const listener = resources.listeners.find((l) => l.name === "gateway");
  if (!listener) throw new Error('envoy.yaml has no listener named "gateway"');
  listener.address = socketAddress(targets.listen);
  if (options.withoutCheck) {
    for (const chain of listener.filter_chains) {
      for (const filter of chain.filters) {
        const hcm = filter.typed_config;
        hcm.http_filters = (hcm.http_filters ?? []).filter((f) => f.name !== "envoy.filters.http.ext_authz");
      }
    }
  }
  const limited = (targets.ratelimit ?? []).length > 0;
  const endpoints: Record<string, Endpoint[]> = {
    authz: targets.authz.map((a) => a.grpc),
    auth: targets.auth,
    example: [targets.example],
    ...(limited ? { ratelimit: targets.ratelimit ?? [] } : {}),
  };
  for (const [name, list] of Object.entries(endpoints)) {
    const cluster = resources.clusters.find((c) => c.name === name);
    if (!cluster) throw new Error(`envoy.yaml has no cluster named "${name}"`);
    cluster.load_assignment.endpoints = [{ lb_endpoints: list.map((e) => ({ endpoint: { address: socketAddress(e) } })) }];
  }
  renderRateLimits(resources, limited, options);
  renderTracing(resources, options.tracesUrl);
  renderTls(resources, options.tls);
  if (options.calloutTimeoutMs !== undefined) {
    const timeout = `${options.calloutTimeoutMs / 1000}s`;
    for (const filter of connectionManagers(resources).flatMap((hcm) => hcm.http_filters ?? [])) {
      const typed = filter.typed_config as { grpc_service?: Json; timeout?: string; rate_limit_service?: { grpc_service?: Json } };
      if (filter.name === "envoy.filters.http.ext_authz" && typed.grpc_service) typed.grpc_service.timeout = timeout;
      if (filter.name === "envoy.filters.http.ratelimit") {
        typed.timeout = timeout;
        if (typed.rate_limit_service?.grpc_service) typed.rate_limit_service.grpc_service.timeout = timeout;
      }
    }
  }
  return `${JSON.stringify(config, null, 2)}\n`;
}

function renderRateLimits(resources: StaticResources, limited: boolean, options: EnvoyRenderOptions): void {
  // Without a rate limit service there is nothing to ask: drop the filter rather than fail open on every request.
  if (!limited) resources.clusters = resources.clusters.filter((c) => c.name !== "ratelimit");
  for (const hcm of connectionManagers(resources)) {
    if (!hcm.http_filters) continue;
    if (!limited) hcm.http_filters = hcm.http_filters.filter((f) => f.name !== "envoy.filters.http.ratelimit");
    if (options.floodGuard === "off") hcm.http_filters = hcm.http_filters.filter((f) => f.name !== "envoy.filters.http.local_ratelimit");
    for (const filter of hcm.http_filters) {
      if (filter.name === "envoy.filters.http.ratelimit" && options.rateLimitDomain) filter.typed_config.domain = options.rateLimitDomain;
      if (filter.name === "envoy.filters.http.local_ratelimit" && options.floodGuard && options.floodGuard !== "off") {
        const { tokens, fillIntervalMs } = options.floodGuard;
        filter.typed_config.token_bucket = { max_tokens: tokens, tokens_per_fill: tokens, fill_interval: `${fillIntervalMs / 1000}s` };
        filter.typed_config.response_headers_to_add = [
          { header: { key: "retry-after", value: String(Math.max(1, Math.ceil(fillIntervalMs / 1000))) }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
        ];
      }
    }
  }
}

/** Points the tracer and its cluster at the collector; without one, removes both. */
function renderTracing(resources: StaticResources, tracesUrl: string | undefined): void {
  const cluster = resources.clusters.find((c) => c.name === "opentelemetry");
  if (!cluster) throw new Error('envoy.yaml has no cluster named "opentelemetry"');
  if (!tracesUrl) {
    resources.clusters = resources.clusters.filter((c) => c !== cluster);
    for (const hcm of connectionManagers(resources)) delete hcm.tracing;
    return;
  }
  const url = new URL(tracesUrl);
  // The cluster has no TLS transport socket: a collector beside the gateway (agent, sidecar) on plain HTTP.
  if (url.protocol !== "http:") throw new Error(`the gateway exports traces over plain HTTP only (an agent beside it); got ${url.protocol}//`);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  cluster.load_assignment.endpoints = [{ lb_endpoints: [{ endpoint: { address: socketAddress({ host, port: Number(url.port || 80) }) } }] }];
  // STATIC takes addresses only; a name is resolved, and re-resolved, by DNS.
  if (isIP(host) === 0) cluster.type = "STRICT_DNS";
  for (const hcm of connectionManagers(resources)) if (hcm.tracing) hcm.tracing.provider.typed_config.http_service.http_uri.uri = url.href;
}

/** Points gateway_tls at its port and files, and the browser redirect at that port; without TLS, removes both. */
function renderTls(resources: StaticResources, tls: EnvoyRenderOptions["tls"]): void {
  const listener = resources.listeners.find((l) => l.name === "gateway_tls");
  if (!listener) throw new Error('envoy.yaml has no listener named "gateway_tls"');
  if (tls) {
    listener.address = socketAddress(tls.listen);
    for (const chain of listener.filter_chains) {
      if (chain.transport_socket) {
        chain.transport_socket.typed_config.common_tls_context.tls_certificates = [{ certificate_chain: { filename: tls.certFile }, private_key: { filename: tls.keyFile } }];
      }
    }
  } else {
    resources.listeners = resources.listeners.filter((l) => l !== listener);
  }
  for (const host of connectionManagers(resources).flatMap((hcm) => hcm.route_config?.virtual_hosts ?? [])) {
    // Without HTTPS there is nowhere to send browsers: they stay on plain HTTP.
    if (!tls) host.routes = host.routes.filter((r) => !r.redirect?.https_redirect);
    else for (const route of host.routes) if (route.redirect?.https_redirect) route.redirect.port_redirect = tls.listen.port;
  }
}
