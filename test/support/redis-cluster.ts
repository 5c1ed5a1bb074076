import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Cluster } from "ioredis";
import { findFreePort } from "../../src/stack/ports.js";
import { createProcessManager } from "../../src/stack/processes.js";
import { redisPing, waitUntil } from "../../src/stack/readiness.js";
import { whichProgram } from "../../src/stack/install.js";
import { CLUSTER_NODES, clusterHealthy, clusterNodesValue, formRedisCluster, redisNodeName, redisNodeSpec } from "../../src/stack/redis-cluster.js";

const run = promisify(execFile);

/** A Redis Cluster of the test's own (3 masters + 3 replicas from the launcher's module), stopped by pid. */
export interface TestRedisCluster {
  /** The REDIS_CLUSTER_NODES value: every node as host:port. */
  nodes: string;
  ports: number[];
  /** SIGKILL to node i, like a crash. */
  kill(i: number): Promise<void>;
  /** Starts node i again from its data dir (its nodes.conf rejoins it to the cluster). */
  start(i: number): Promise<void>;
  /** SIGSTOP / SIGCONT to node i: alive but silent, as a replica stuck on a slow disk or a partition. */
  pause(i: number): void;
  resume(i: number): void;
  /** The indexes of the nodes that are replicas now. */
  replicas(): Promise<number[]>;
  /** Until every slot is served and every master has a streaming replica again. */
  healthy(timeoutMs?: number): Promise<void>;
  /** The index of the node that is master of the key's slot now. */
  masterOf(key: string): Promise<number>;
  stop(): Promise<void>;
}

export async function startRedisCluster(opts: { nodeTimeoutMs?: number } = {}): Promise<TestRedisCluster> {
  const redisServer = whichProgram("redis-server");
  const redisCli = whichProgram("redis-cli");
  if (!redisServer || !redisCli) throw new Error("redis-server and redis-cli are needed (apt-get install redis-server)");
  const dir = mkdtempSync(path.join(tmpdir(), "redis-cluster-"));
  mkdirSync(path.join(dir, "run"));
  const procs = createProcessManager(path.join(dir, "run"));
  const picked: number[] = [];
  while (picked.length < 2 * CLUSTER_NODES) {
    const port = await findFreePort();
    if (!picked.includes(port)) picked.push(port);
  }
  const [ports, busPorts] = [picked.slice(0, CLUSTER_NODES), picked.slice(CLUSTER_NODES)];
  const specs = ports.map((port, i) =>
    redisNodeSpec({ redisServer, dir: path.join(dir, redisNodeName(i)), logFile: path.join(dir, `${redisNodeName(i)}.log`), name: redisNodeName(i), port, cluster: { nodeTimeoutMs: opts.nodeTimeoutMs ?? 1000, busPort: busPorts[i]! } }),
  );
  const start = async (i: number) => {
    procs.start(specs[i]!);
    await waitUntil(() => redisPing(ports[i]!), { what: `${redisNodeName(i)} on port ${ports[i]}`, timeoutMs: 10_000, intervalMs: 20, logFile: specs[i]!.logFile });
  };
  const stop = async () => {
    await procs.stopAll();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(ports.map((_, i) => start(i)));
    await formRedisCluster(redisCli, ports);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    nodes: clusterNodesValue(ports),
    ports,
    kill: (i) => procs.kill(redisNodeName(i)),
    pause: (i) => process.kill(procs.pid(redisNodeName(i))!, "SIGSTOP"),
    resume: (i) => process.kill(procs.pid(redisNodeName(i))!, "SIGCONT"),
    async replicas() {
      const roles = await Promise.all(ports.map(async (port) => (await run(redisCli, ["-p", String(port), "info", "replication"])).stdout));
      return roles.flatMap((info, i) => (/^role:slave/m.test(info) ? [i] : []));
    },
    start,
    healthy: (timeoutMs = 30_000) =>
      waitUntil(() => clusterHealthy(redisCli, ports), { what: "Redis Cluster healthy again", timeoutMs, intervalMs: 100 }),
    async masterOf(key) {
      const probe = new Cluster(ports.map((port) => ({ host: "127.0.0.1", port })));
      try {
        const slot = Number(await probe.cluster("KEYSLOT", key));
        const ranges = (await probe.cluster("SLOTS")) as unknown as [number, number, [string, number, ...unknown[]]][];
        const owner = ranges.find(([from, to]) => slot >= from && slot <= to);
        return ports.indexOf(Number(owner?.[2][1]));
      } finally {
        probe.disconnect();
      }
    },
    stop,
  };
}
