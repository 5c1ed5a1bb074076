import { REDIS_PROTOCOLS, type EnvReader } from "./config.js";

export interface RedisNode {
  host: string;
  port: number;
}

/**
 * Which Redis deployment the services use: one node (REDIS_URL) or a Redis Cluster reached through
 * seed nodes (REDIS_CLUSTER_NODES); exactly one of the two is set.
 */
export type RedisTarget =
  | { kind: "node"; url: string }
  /** `password`: the nodes' AUTH password (REDIS_PASSWORD); a URL carries its own, a seed list cannot. */
  | { kind: "cluster"; nodes: RedisNode[]; password?: string };

/** The variable a target came from, for messages about it. */
export const redisVariable = (target: RedisTarget) => (target.kind === "node" ? "REDIS_URL" : "REDIS_CLUSTER_NODES");

const NODE = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/**
 * REDIS_URL or REDIS_CLUSTER_NODES (comma-separated host:port seed nodes), never both; with the
 * seed nodes, REDIS_PASSWORD if the nodes require one (with REDIS_URL it belongs in the URL).
 */
export function readRedisTarget(read: EnvReader): RedisTarget {
  const seeds = read.list("REDIS_CLUSTER_NODES");
  const url = read.optionalUrl("REDIS_URL", REDIS_PROTOCOLS);
  const urlSet = read.isSet("REDIS_URL");
  if (seeds.length === 0) {
    if (!urlSet) read.report("REDIS_URL is required (one node), or REDIS_CLUSTER_NODES instead (a Redis Cluster's host:port seed nodes)");
    return { kind: "node", url: url ?? "" };
  }
  if (urlSet) read.report("REDIS_URL and REDIS_CLUSTER_NODES are both set: set REDIS_URL for one node or REDIS_CLUSTER_NODES for a cluster, not both");
  const nodes: RedisNode[] = [];
  for (const seed of seeds) {
    const match = NODE.exec(seed);
    const port = Number(match?.[2]);
    if (!match?.[1] || port < 1 || port > 65535) {
      read.report(`REDIS_CLUSTER_NODES must be comma-separated host:port seed nodes such as 10.0.0.1:6379,10.0.0.2:6379; got "${seed}"`);
      continue;
    }
    nodes.push({ host: match[1].replace(/^\[|\]$/g, ""), port });
  }
  const password = read.string("REDIS_PASSWORD", "");
  return password === "" ? { kind: "cluster", nodes } : { kind: "cluster", nodes, password };
}

/** How many replicas must acknowledge a write a client is told about before it is answered (Redis WAIT). */
export interface RedisDurability {
  replicas: number;
  timeoutMs: number;
}

/**
 * REDIS_WAIT_REPLICAS (default 1 on a cluster, 0 on one node, which has no replica to wait for) and
 * REDIS_WAIT_TIMEOUT (default 1s): past it the write is answered UNAVAILABLE.
 */
export function readRedisDurability(read: EnvReader, target: RedisTarget): RedisDurability {
  return {
    replicas: read.integer("REDIS_WAIT_REPLICAS", target.kind === "cluster" ? 1 : 0, 0, 16),
    timeoutMs: read.duration("REDIS_WAIT_TIMEOUT", "1s", 60_000),
  };
}
