import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { ServiceSpec } from "./processes.js";
import { waitUntil } from "./readiness.js";

const run = promisify(execFile);

/** A Redis Cluster of the launcher: this many masters, each with one replica. */
export const CLUSTER_MASTERS = 3;
export const CLUSTER_NODES = CLUSTER_MASTERS * 2;

export const redisNodeName = (i: number) => `redis-${i}`;
export const clusterNodesValue = (ports: number[]) => ports.map((port) => `127.0.0.1:${port}`).join(",");

export interface RedisNodeOptions {
  redisServer: string;
  /** The node's data directory: its config, append-only file and (on a cluster) nodes.conf. */
  dir: string;
  logFile: string;
  name: string;
  port: number;
  runAs?: ServiceSpec["runAs"];
  /**
   * A cluster node: how long a master may be unreachable before its replica takes over, and its
   * cluster bus port (set, not Redis' port + 10000, which can be taken or past 65535).
   */
  cluster?: { nodeTimeoutMs: number; busPort: number };
}

/** Writes the node's redis.conf and returns how to run it. Generated: nothing here is shared with docker-compose's Redis. */
export function redisNodeSpec(opts: RedisNodeOptions): ServiceSpec {
  fs.mkdirSync(opts.dir, { recursive: true });
  const conf = path.join(opts.dir, "redis.conf");
  const cluster = opts.cluster
    ? [
        "cluster-enabled yes",
        `cluster-config-file ${path.join(opts.dir, "nodes.conf")}`,
        `cluster-node-timeout ${opts.cluster.nodeTimeoutMs}`,
        `cluster-port ${opts.cluster.busPort}`,
        // A shard without a master stops only its own slots: the other shards' sessions keep working.
        "cluster-require-full-coverage no",
      ]
    : [];
  fs.writeFileSync(
    conf,
    [
      "bind 127.0.0.1",
      `port ${opts.port}`,
      "protected-mode yes",
      "daemonize no",
      `pidfile ${path.join(opts.dir, "redis.pid")}`,
      `dir ${opts.dir}`,
      'save ""',
      // Sessions, revocations and lockouts survive a restart. Redis writes the file before it answers,
      // so a crashed Redis loses nothing it acknowledged; only a crash of the host can lose the last second.
      "appendonly yes",
      "appendfsync everysec",
      'logfile ""',
      ...cluster,
      "",
    ].join("\n"),
  );
  return { name: opts.name, command: opts.redisServer, args: [conf], cwd: opts.dir, logFile: opts.logFile, runAs: opts.runAs, stopSignal: "SIGTERM" };
}

async function cli(redisCli: string, port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run(redisCli, ["-h", "127.0.0.1", "-p", String(port), ...args], { timeout: 5_000 });
  return stdout;
}

const field = (text: string, name: string) => new RegExp(`^${name}:(.*)$`, "m").exec(text)?.[1]?.trim();

/** Every node sees all slots served and the whole cluster, and every master streams to a replica. */
export async function clusterHealthy(redisCli: string, ports: number[]): Promise<boolean> {
  try {
    const nodes = await Promise.all(ports.map(async (port) => ({ info: await cli(redisCli, port, "cluster", "info"), replication: await cli(redisCli, port, "info", "replication") })));
    return nodes.every(
      ({ info, replication }) =>
        field(info, "cluster_state") === "ok" &&
        field(info, "cluster_slots_ok") === "16384" &&
        Number(field(info, "cluster_known_nodes")) >= ports.length &&
        (field(replication, "role") === "master" ? Number(field(replication, "connected_slaves")) >= 1 : field(replication, "master_link_status") === "up"),
    );
  } catch {
    return false;
  }
}

/**
 * Makes the started nodes one cluster (3 masters, one replica each) unless they already are one
 * (a restarted stack: each node's nodes.conf remembers the cluster), then waits until it is healthy.
 */
export async function formRedisCluster(redisCli: string, ports: number[], log: (line: string) => void = () => {}, timeoutMs = 30_000): Promise<void> {
  const known = Number(field(await cli(redisCli, ports[0]!, "cluster", "info"), "cluster_known_nodes"));
  if (known < ports.length) {
    log(`creating a Redis Cluster of ${ports.length} nodes`);
    await run(redisCli, ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "1", "--cluster-yes"], { timeout: timeoutMs });
  }
  await waitUntil(() => clusterHealthy(redisCli, ports), { what: "Redis Cluster with every slot served and every master replicated", timeoutMs, intervalMs: 100 });
}
