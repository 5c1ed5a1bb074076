import path from "node:path";
import { ConfigError, EnvReader, type Env } from "../platform/config.js";
import type { StackPorts } from "./ports.js";
import { CLUSTER_NODES } from "./redis-cluster.js";
import type { RedisShape } from "./stack.js";

// The launcher's cluster nodes listen for their cluster bus this far above their own port.
const CLUSTER_BUS_OFFSET = 10;

/** Fixed ports for the CLI so `status` output and shell exports stay stable across runs. */
export const DEFAULT_CLI_PORTS: StackPorts = {
  primary: 55432,
  replicas: [55433, 55434, 55435],
  pgbouncer: 56432,
  haproxy: 55440,
  haproxyStats: 55441,
  redis: 56379,
  redisCluster: [56380, 56381, 56382, 56383, 56384, 56385],
  redisClusterBus: [56390, 56391, 56392, 56393, 56394, 56395],
};

export interface StackCliConfig {
  dir: string;
  replicas: number;
  /** STACK_REDIS: one node or a Redis Cluster. */
  redis: RedisShape;
  ports: StackPorts;
}

export class StackConfigError extends ConfigError {
  constructor(problems: string[]) {
    super(problems, `invalid stack configuration:\n  ${problems.join("\n  ")}`);
  }
}

/**
 * Reads the launcher's settings from the environment. Pure: collects every problem and
 * throws once, naming each variable.
 *
 *   STACK_DIR                 state directory (default: <repoRoot>/.stack)
 *   STACK_REPLICAS            number of streaming replicas, 0..9 (default: 3)
 *   STACK_PRIMARY_PORT        default 55432
 *   STACK_REPLICA_PORTS       comma-separated, one per replica (default: 55433, 55434, ...)
 *   STACK_PGBOUNCER_PORT      default 56432
 *   STACK_HAPROXY_PORT        default 55440
 *   STACK_HAPROXY_STATS_PORT  default 55441
 *   STACK_REDIS_PORT          default 56379
 *   STACK_REDIS               node (default) or cluster: 3 masters + 3 replicas
 *   STACK_REDIS_CLUSTER_PORTS comma-separated, six of them (default 56380..56385); each node's
 *                             cluster bus listens 10 above its port
 */
export function loadStackConfig(env: Env, repoRoot: string): StackCliConfig {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);
  const port = (name: string, fallback: number) => read.integer(name, fallback, 1, 65535);

  const replicas = read.integer("STACK_REPLICAS", 3, 0, 9);
  const primary = port("STACK_PRIMARY_PORT", DEFAULT_CLI_PORTS.primary);
  let replicaPorts = Array.from({ length: replicas }, (_, i) => DEFAULT_CLI_PORTS.primary + 1 + i);
  const listed = read.list("STACK_REPLICA_PORTS");
  if (listed.length > 0) {
    const parsed = listed.map(parsePort);
    if (parsed.some((p) => p === undefined)) {
      read.report(`STACK_REPLICA_PORTS must be comma-separated port numbers, got "${listed.join(",")}"`);
    } else if (parsed.length !== replicas) {
      read.report(`STACK_REPLICA_PORTS: expected ${replicas} ports (STACK_REPLICAS), got ${parsed.length}`);
    } else {
      replicaPorts = parsed as number[];
    }
  }

  const redis = read.oneOf("STACK_REDIS", ["node", "cluster"] as const, "node");
  let clusterPorts = redis === "cluster" ? DEFAULT_CLI_PORTS.redisCluster : [];
  const listedCluster = read.list("STACK_REDIS_CLUSTER_PORTS");
  if (listedCluster.length > 0) {
    const parsed = listedCluster.map(parsePort);
    if (parsed.some((p) => p === undefined) || parsed.length !== CLUSTER_NODES) {
      read.report(`STACK_REDIS_CLUSTER_PORTS must be ${CLUSTER_NODES} comma-separated port numbers, got "${listedCluster.join(",")}"`);
    } else if (redis === "cluster") {
      clusterPorts = parsed as number[];
      if (clusterPorts.some((p) => p + CLUSTER_BUS_OFFSET > 65535)) read.report(`STACK_REDIS_CLUSTER_PORTS: each port's cluster bus (port + ${CLUSTER_BUS_OFFSET}) must be at most 65535`);
    }
  }

  const ports: StackPorts = {
    primary,
    replicas: replicaPorts,
    pgbouncer: port("STACK_PGBOUNCER_PORT", DEFAULT_CLI_PORTS.pgbouncer),
    haproxy: port("STACK_HAPROXY_PORT", DEFAULT_CLI_PORTS.haproxy),
    haproxyStats: port("STACK_HAPROXY_STATS_PORT", DEFAULT_CLI_PORTS.haproxyStats),
    redis: port("STACK_REDIS_PORT", DEFAULT_CLI_PORTS.redis),
    redisCluster: clusterPorts,
    redisClusterBus: clusterPorts.map((p) => p + CLUSTER_BUS_OFFSET),
  };

  if (problems.length === 0) {
    const all = [ports.primary, ...ports.replicas, ports.pgbouncer, ports.redis, ...ports.redisCluster, ...ports.redisClusterBus];
    if (replicas > 0) all.push(ports.haproxy, ports.haproxyStats);
    const seen = new Set<number>();
    for (const p of all) {
      if (seen.has(p)) read.report(`STACK_*_PORT: port ${p} is used by more than one component`);
      seen.add(p);
    }
  }

  const rawDir = read.string("STACK_DIR", "");
  const dir = rawDir !== "" ? path.resolve(repoRoot, rawDir) : path.join(repoRoot, ".stack");

  if (problems.length > 0) throw new StackConfigError(problems);
  return { dir, replicas, redis, ports };
}

export function parsePort(raw: string): number | undefined {
  const trimmed = raw.trim();
  if (!/^\d+$/.test(trimmed)) return undefined;
  const n = Number(trimmed);
  return n >= 1 && n <= 65535 ? n : undefined;
}
