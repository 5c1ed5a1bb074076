import { parse } from "yaml";
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
interface Cluster {
  name: string;
  load_assignment: { endpoints: Array<{ lb_endpoints: unknown[] }> };
}

const socketAddress = (e: Endpoint) => ({ socket_address: { address: e.host, port_value: e.port } });

function requireInstances(targets: GatewayTargets): void {
  if (targets.auth.length === 0) throw new Error("the gateway needs at least one auth instance");
  if (targets.authz.length === 0) throw new Error("the gateway needs at least one authz instance");
}

export interface EnvoyRenderOptions {
  adminPort: number;
  /** Drops the ext_authz filter: the benchmark's baseline for what the Check costs. */
  withoutCheck?: boolean;
}

interface HttpConnectionManager {
  http_filters: Array<{ name: string }>;
}
interface Listener {
  name: string;
  address: Json;
  filter_chains: Array<{ filters: Array<{ typed_config: HttpConnectionManager }> }>;
}

/**
 * envoy/envoy.yaml with the real ports: the listener, the admin port, and each cluster's
 * endpoints (one per instance). Returned as JSON, which Envoy reads as well as YAML.
 */
export function renderEnvoyConfig(yamlText: string, targets: GatewayTargets, options: EnvoyRenderOptions): string {
  requireInstances(targets);
  const config = parse(yamlText, { maxAliasCount: -1 }) as {
    admin: { address: Json };
    static_resources: { listeners: Listener[]; clusters: Cluster[] };
  };
  config.admin.address = socketAddress({ host: "127.0.0.1", port: options.adminPort });
  const listener = config.static_resources.listeners.find((l) => l.name === "gateway");
  if (!listener) throw new Error('envoy.yaml has no listener named "gateway"');
  listener.address = socketAddress(targets.listen);
  if (options.withoutCheck) {
    for (const chain of listener.filter_chains) {
      for (const filter of chain.filters) {
        const hcm = filter.typed_config;
        hcm.http_filters = hcm.http_filters.filter((f) => f.name !== "envoy.filters.http.ext_authz");
      }
    }
  }
  const endpoints: Record<string, Endpoint[]> = { authz: targets.authz.map((a) => a.grpc), auth: targets.auth, example: [targets.example] };
  for (const [name, list] of Object.entries(endpoints)) {
    const cluster = config.static_resources.clusters.find((c) => c.name === name);
    if (!cluster) throw new Error(`envoy.yaml has no cluster named "${name}"`);
    cluster.load_assignment.endpoints = [{ lb_endpoints: list.map((e) => ({ endpoint: { address: socketAddress(e) } })) }];
  }
  return `${JSON.stringify(config, null, 2)}\n`;
}
