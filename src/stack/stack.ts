import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { archiveSettings, backupLayout, ensureStanza, isRestored, setAsideRepository, waitForPromotion, writePgbackrestConfig } from "./backup.js";
import { ensureInstalled, type Binaries } from "./install.js";
import { resolvePorts, canConnect, type StackPorts } from "./ports.js";
import {
  APP_PASSWORD,
  APP_USER,
  bootstrapPrimary,
  cloneReplica,
  initPrimary,
  pgUrl,
  primarySpec,
  replicaName,
  replicaSpec,
  superUrl,
  waitForStreaming,
  type PostgresContext,
} from "./postgres.js";
import { createProcessManager, isAlive, stopPid, type ServiceSpec } from "./processes.js";
import { haproxyServerStatus, postgresAnswers, redisPing, waitUntil } from "./readiness.js";
import { renderHaproxyConfig, renderPgbouncerConfig, renderUserlist, scramSecret } from "./render-config.js";
import { CLUSTER_MASTERS, CLUSTER_NODES, clusterNodesValue, formRedisCluster, redisNodeName, redisNodeSpec } from "./redis-cluster.js";
import { assertTraversable, chownTree, ensureServiceUser } from "./service-user.js";

export type { StackPorts } from "./ports.js";

export interface StackOptions {
  /** All state lives here: data dirs, rendered configs, logs, pid files. */
  dir: string;
  /** Streaming replicas behind HAProxy; default 3. With 0 there is no HAProxy. */
  replicas?: number;
  /** Ports not given are picked free (bind port 0). */
  ports?: Partial<StackPorts>;
  /** One Redis node (default) or a Redis Cluster of 3 masters and 3 replicas (STACK_REDIS=cluster). */
  redis?: RedisShape;
  log?: (line: string) => void;
}

export type RedisShape = "node" | "cluster";

/** Components by name: "primary", "replica-0".., "pgbouncer", "haproxy", "redis" (or "redis-0".."redis-5" for a cluster). */
export interface StackControl {
  components(): string[];
  pid(name: string): number | undefined;
  pids(): Record<string, number>;
  /** Graceful stop (Postgres: fast shutdown). */
  stop(name: string): Promise<void>;
  /** SIGKILL to the component's process group, like a crash. */
  kill(name: string): Promise<void>;
  /** Starts a stopped component again with the same settings and waits until it answers. */
  start(name: string): Promise<void>;
}

export interface RunningStack {
  /** Via PgBouncer (transaction pooling) to the primary: app writes. */
  databaseUrl: string;
  /** Direct to the primary: migrations, which must not go through the transaction pool. */
  primaryUrl: string;
  /** Via HAProxy across the replicas, primary as backup. Undefined with 0 replicas. */
  replicaUrl?: string;
  /** Direct to each replica, in index order. */
  replicaUrls: string[];
  /** One Redis node: REDIS_URL. */
  redisUrl?: string;
  /** A Redis Cluster: REDIS_CLUSTER_NODES, every node as host:port. */
  redisClusterNodes?: string;
  statsUrl?: string;
  ports: StackPorts;
  dir: string;
  control: StackControl;
  /** Stops everything it started, by pid, and waits for the exits. */
  stop(): Promise<void>;
  /** Lets the processes outlive this one (`up --detach`); `stopDetachedStack` ends them. */
  detach(): void;
}

export type StackUrls = Pick<RunningStack, "databaseUrl" | "primaryUrl" | "replicaUrl" | "replicaUrls" | "redisUrl" | "redisClusterNodes" | "statsUrl">;

/** What `status` and `down` read from <dir>/stack.json. */
export interface StackState {
  ports: StackPorts;
  replicas: number;
  urls: StackUrls;
  components: { name: string; stopSignal: NodeJS.Signals; command: string }[];
}

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const START_TIMEOUT_MS = 30_000;
// Cluster nodes: a master unreachable this long is replaced by its replica (Redis' default is 15 s).
const CLUSTER_NODE_TIMEOUT_MS = 2_000;

export async function startStack(opts: StackOptions): Promise<RunningStack> {
  const replicas = opts.replicas ?? 3;
  if (!Number.isInteger(replicas) || replicas < 0) throw new Error(`replicas must be a non-negative integer, got ${replicas}`);
  const given = opts.ports ?? {};
  const picksPorts = [given.primary, given.replicas, given.pgbouncer, given.haproxy, given.haproxyStats, given.redis, given.redisCluster, given.redisClusterBus].some((p) => p === undefined);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts, replicas);
    } catch (err) {
      // A port found free can be taken by another process (a parallel test's stack) before
      // our component binds it; fresh ports fix that. Data dirs are reused, so a retry is cheap.
      if (!picksPorts || attempt === 3 || !/already in use|cannot bind/i.test((err as Error).message)) throw err;
      opts.log?.(`port taken while starting (${(err as Error).message.split("\n")[0]}); retrying with new ports`);
    }
  }
}

async function startOnce(opts: StackOptions, replicas: number): Promise<RunningStack> {
  const log = opts.log ?? (() => {});
  const started = Date.now();
  const dir = path.resolve(opts.dir);
  const layout = createLayout(dir);

  const running = readRunningPids(dir);
  if (running.length > 0) throw new Error(`a stack is already running in ${dir} (pids ${running.join(", ")}); stop it with "down" first`);

  const bins = ensureInstalled({ log });
  const cluster = opts.redis === "cluster";
  const ports = await resolvePorts(opts.ports ?? {}, replicas, cluster ? CLUSTER_NODES : 0);
  await assertPortsFree(ports, replicas, cluster);

  for (const d of [dir, layout.run, layout.logs, layout.socket, layout.pgbouncer, layout.haproxy]) fs.mkdirSync(d, { recursive: true });
  writePgbackrestConfig(layout.backup, layout.primary, layout.socket);
  const runAs = ensureServiceUser();
  if (runAs) {
    assertTraversable(dir);
    chownTree(dir, runAs);
  }

  const procs = createProcessManager(layout.run, log);
  const ctx: PostgresContext = { bin: bins.postgresBin, dir, socketDir: layout.socket, logDir: layout.logs, runAs, procs };
  const specs = new Map<string, { spec: ServiceSpec; ready: () => Promise<void> }>();
  const launch = async (spec: ServiceSpec, ready: () => Promise<boolean>, what: string) => {
    const waitReady = () =>
      waitUntil(ready, { what, timeoutMs: START_TIMEOUT_MS, logFile: spec.logFile, alive: () => procs.pid(spec.name) !== undefined && isAlive(procs.pid(spec.name)!) });
    specs.set(spec.name, { spec, ready: waitReady });
    procs.start(spec);
    await waitReady();
    log(`${spec.name} ready (pid ${procs.pid(spec.name)})`);
  };

  const launchRedis = async (name: string, nodeDir: string, port: number, busPort?: number) => {
    const cluster = busPort === undefined ? {} : { cluster: { nodeTimeoutMs: CLUSTER_NODE_TIMEOUT_MS, busPort } };
    const spec = redisNodeSpec({ redisServer: bins.redisServer, dir: nodeDir, logFile: path.join(layout.logs, `${name}.log`), name, port, runAs, ...cluster });
    chownTree(nodeDir, runAs);
    await launch(spec, () => redisPing(port), `${name} on port ${port}`);
  };
  const launchCluster = async () => {
    await Promise.all(ports.redisCluster.map((port, i) => launchRedis(redisNodeName(i), layout.redisNode(i), port, ports.redisClusterBus[i]!)));
    await formRedisCluster(bins.redisCli, ports.redisCluster, log, START_TIMEOUT_MS);
    log(`redis cluster ready (${CLUSTER_MASTERS} masters, ${CLUSTER_MASTERS} replicas)`);
  };

  try {
    const restored = isRestored(layout.primary);
    const fresh = await initPrimary(ctx, layout.primary);
    if (fresh || restored) for (let i = 0; i < replicas; i++) fs.rmSync(layout.replica(i), { recursive: true, force: true });
    const aside = fresh ? setAsideRepository(layout.backup) : undefined;
    if (aside) {
      chownTree(layout.backup.repo, runAs);
      log(`new database: the previous one's backups were moved to ${aside}`);
    }
    const primary = primarySpec(ctx, layout.primary, ports.primary);
    primary.args.push(...archiveSettings(layout.backup));
    await launch(primary, postgresAnswers(superUrl(ports.primary)), `primary on port ${ports.primary}`);
    // A restored primary answers read-only while it replays the archive up to its target.
    if (restored) await waitForPromotion(superUrl(ports.primary), START_TIMEOUT_MS);
    await bootstrapPrimary(ports.primary);

    const replicaNames = Array.from({ length: replicas }, (_, i) => replicaName(i));
    await Promise.all([
      ensureStanza({ pgbackrest: bins.pgbackrest, layout: layout.backup, runAs, port: ports.primary }),
      cluster ? launchCluster() : launchRedis("redis", layout.redis, ports.redis),
      (async () => {
        writePgbouncerConfig(layout, ports);
        chownTree(layout.pgbouncer, runAs);
        await launch(pgbouncerSpec(bins, layout, runAs), postgresAnswers(pgUrl(ports.pgbouncer)), `pgbouncer on port ${ports.pgbouncer}`);
      })(),
      ...replicaNames.map(async (name, i) => {
        await cloneReplica(ctx, layout.replica(i), i, ports.primary);
        await launch(replicaSpec(ctx, layout.replica(i), i, ports.replicas[i]!, ports.primary), postgresAnswers(pgUrl(ports.replicas[i]!)), `${name} on port ${ports.replicas[i]}`);
      }),
    ]);
    if (replicas > 0) {
      await waitForStreaming(ports.primary, replicaNames, START_TIMEOUT_MS);
      writeHaproxyConfig(layout, ports);
      chownTree(layout.haproxy, runAs);
      await launch(
        haproxySpec(bins, layout, runAs),
        async () => {
          const status = await haproxyServerStatus(ports.haproxyStats);
          return replicaNames.every((n) => status[n] === "UP");
        },
        `haproxy on port ${ports.haproxy} with every replica UP`,
      );
    }
  } catch (err) {
    await procs.stopAll();
    throw err;
  }

  const urls = {
    databaseUrl: pgUrl(ports.pgbouncer),
    primaryUrl: pgUrl(ports.primary),
    replicaUrls: ports.replicas.map((p) => pgUrl(p)),
    ...(cluster ? { redisClusterNodes: clusterNodesValue(ports.redisCluster) } : { redisUrl: `redis://127.0.0.1:${ports.redis}` }),
    ...(replicas > 0 ? { replicaUrl: pgUrl(ports.haproxy), statsUrl: `http://127.0.0.1:${ports.haproxyStats}/stats` } : {}),
  };
  const state: StackState = {
    ports,
    replicas,
    urls,
    components: [...specs.values()].map(({ spec }) => ({ name: spec.name, stopSignal: spec.stopSignal, command: spec.command })),
  };
  fs.writeFileSync(layout.state, `${JSON.stringify(state, null, 2)}\n`);
  log(`stack up in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const control: StackControl = {
    components: () => [...specs.keys()],
    pid: (name) => procs.pid(name),
    pids: () => procs.pids(),
    stop: (name) => procs.stop(knownName(name)),
    kill: (name) => procs.kill(knownName(name)),
    async start(name) {
      const entry = specs.get(knownName(name))!;
      procs.start(entry.spec);
      await entry.ready();
    },
  };
  const knownName = (name: string) => {
    if (!specs.has(name)) throw new Error(`unknown component "${name}"; known: ${[...specs.keys()].join(", ")}`);
    return name;
  };

  return {
    ...urls,
    ports,
    dir,
    control,
    async stop() {
      await procs.stopAll();
      fs.rmSync(layout.state, { force: true });
    },
    detach: () => procs.detach(),
  };
}

/** Endpoints for humans, then KEY=value lines a shell can source. */
export function formatEndpoints(stack: StackUrls): string {
  const described: [string, string | undefined][] = [
    ["writes (PgBouncer, transaction pool)", stack.databaseUrl],
    ["primary (direct, for migrations)", stack.primaryUrl],
    ["reads (HAProxy over replicas)", stack.replicaUrl],
    ...stack.replicaUrls.map((u, i): [string, string] => [`replica-${i} (direct)`, u]),
    ["redis", stack.redisUrl],
    ["redis cluster (seed nodes)", stack.redisClusterNodes],
    ["HAProxy stats", stack.statsUrl],
  ];
  const width = Math.max(...described.map(([label]) => label.length)) + 1;
  const env: [string, string | undefined][] = [
    ["DATABASE_URL", stack.databaseUrl],
    ["DATABASE_PRIMARY_URL", stack.primaryUrl],
    ["DATABASE_REPLICA_URL", stack.replicaUrl],
    ["REDIS_URL", stack.redisUrl],
    ["REDIS_CLUSTER_NODES", stack.redisClusterNodes],
  ];
  return [
    ...described.filter(([, url]) => url !== undefined).map(([label, url]) => `# ${`${label}:`.padEnd(width)} ${url}`),
    ...env.filter(([, url]) => url !== undefined).map(([key, url]) => `${key}=${url}`),
    "",
  ].join("\n");
}

/**
 * The recorded state of the stack in dir and which of its components are not running;
 * undefined when none of them is.
 */
export function readStackState(dir: string): (StackState & { down: string[] }) | undefined {
  const layout = createLayout(path.resolve(dir));
  const state = readStateFile(layout);
  if (!state) return undefined;
  const down = state.components
    .filter((c) => {
      const pid = readPid(layout.pidFile(c.name));
      return pid === undefined || !isAlive(pid);
    })
    .map((c) => c.name);
  return down.length === state.components.length ? undefined : { ...state, down };
}

/** Stops a stack started elsewhere (e.g. `up --detach`) from its pid files. */
export async function stopDetachedStack(dir: string, log: (line: string) => void = () => {}): Promise<boolean> {
  const layout = createLayout(path.resolve(dir));
  const names = pidFileNames(layout);
  const state = readStateFile(layout);
  // Stop in reverse start order when known; Postgres wants SIGINT (fast shutdown).
  const order = state ? [...state.components].reverse().map((c) => c.name).filter((n) => names.includes(n)) : [];
  for (const n of names) if (!order.includes(n)) order.push(n);
  let stopped = false;
  for (const name of order) {
    const pid = readPid(layout.pidFile(name));
    const component = state?.components.find((c) => c.name === name);
    if (pid !== undefined && isAlive(pid) && runs(pid, component?.command)) {
      log(`stopping ${name} (pid ${pid})`);
      await stopPid(pid, component?.stopSignal ?? (name === "primary" || name.startsWith("replica-") ? "SIGINT" : "SIGTERM"));
      stopped = true;
    }
    fs.rmSync(layout.pidFile(name), { force: true });
  }
  fs.rmSync(layout.state, { force: true });
  return stopped;
}

function createLayout(dir: string) {
  const run = path.join(dir, "run");
  return {
    dir,
    run,
    logs: path.join(dir, "logs"),
    socket: path.join(dir, "sock"),
    primary: path.join(dir, "primary"),
    replica: (i: number) => path.join(dir, replicaName(i)),
    redis: path.join(dir, "redis"),
    redisNode: (i: number) => path.join(dir, redisNodeName(i)),
    pgbouncer: path.join(dir, "pgbouncer"),
    haproxy: path.join(dir, "haproxy"),
    backup: backupLayout(dir),
    state: path.join(dir, "stack.json"),
    pidFile: (name: string) => path.join(run, `${name}.pid`),
  };
}
type Layout = ReturnType<typeof createLayout>;

function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** stack.json, or undefined when it is missing or unreadable. */
function readStateFile(layout: Layout): StackState | undefined {
  try {
    return JSON.parse(fs.readFileSync(layout.state, "utf8")) as StackState;
  } catch {
    return undefined;
  }
}

/** The components that have a pid file in the run directory. */
function pidFileNames(layout: Layout): string[] {
  return fs.existsSync(layout.run) ? fs.readdirSync(layout.run).filter((f) => f.endsWith(".pid")).map((f) => f.slice(0, -4)) : [];
}

function readRunningPids(dir: string): number[] {
  const layout = createLayout(dir);
  return pidFileNames(layout)
    .map((name) => readPid(layout.pidFile(name)))
    .filter((pid): pid is number => pid !== undefined && isAlive(pid));
}

/** Guards `down` against a pid file whose pid now belongs to an unrelated process. */
function runs(pid: number, command: string | undefined): boolean {
  if (!command) return true;
  try {
    // Redis rewrites its title into argv[0] ("/usr/bin/redis-server 127.0.0.1:6379").
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split(/[\0 ]/)[0] === command;
  } catch {
    return true;
  }
}

async function assertPortsFree(ports: StackPorts, replicas: number, cluster: boolean): Promise<void> {
  const wanted: [string, number][] = [
    ["primary", ports.primary],
    ...ports.replicas.map((p, i): [string, number] => [replicaName(i), p]),
    ["pgbouncer", ports.pgbouncer],
    ...(cluster
      ? ports.redisCluster.flatMap((p, i): [string, number][] => [[redisNodeName(i), p], [`${redisNodeName(i)} cluster bus`, ports.redisClusterBus[i]!]])
      : ([["redis", ports.redis]] as [string, number][])),
    ...(replicas > 0 ? ([["haproxy", ports.haproxy], ["haproxy stats", ports.haproxyStats]] as [string, number][]) : []),
  ];
  const busy = [];
  for (const [name, port] of wanted) if (await canConnect(port)) busy.push(`${name} port ${port}`);
  if (busy.length > 0) throw new Error(`ports already in use on 127.0.0.1: ${busy.join(", ")}`);
}

function writePgbouncerConfig(layout: Layout, ports: StackPorts): void {
  const templateDir = path.join(REPO_ROOT, "pgbouncer");
  const authFile = path.join(layout.pgbouncer, "userlist.txt");
  fs.writeFileSync(
    path.join(layout.pgbouncer, "pgbouncer.ini"),
    renderPgbouncerConfig(fs.readFileSync(path.join(templateDir, "pgbouncer.ini"), "utf8"), {
      listenAddr: "127.0.0.1",
      listenPort: ports.pgbouncer,
      primary: { host: "127.0.0.1", port: ports.primary },
      authFile,
      pidFile: path.join(layout.pgbouncer, "pgbouncer.pid"),
      socketDir: layout.socket,
    }),
  );
  fs.writeFileSync(authFile, renderUserlist(fs.readFileSync(path.join(templateDir, "userlist.txt"), "utf8"), APP_USER, scramSecret(APP_PASSWORD)), { mode: 0o600 });
}

function pgbouncerSpec(bins: Binaries, layout: Layout, runAs: ServiceSpec["runAs"]): ServiceSpec {
  return {
    name: "pgbouncer",
    command: bins.pgbouncer,
    args: [path.join(layout.pgbouncer, "pgbouncer.ini")],
    cwd: layout.dir,
    logFile: path.join(layout.logs, "pgbouncer.log"),
    runAs,
    // SIGINT would wait for every client to disconnect.
    stopSignal: "SIGTERM",
  };
}

function writeHaproxyConfig(layout: Layout, ports: StackPorts): void {
  fs.writeFileSync(
    path.join(layout.haproxy, "haproxy.cfg"),
    renderHaproxyConfig(fs.readFileSync(path.join(REPO_ROOT, "haproxy", "haproxy.cfg"), "utf8"), {
      listenAddr: "127.0.0.1",
      readPort: ports.haproxy,
      statsPort: ports.haproxyStats,
      primary: { host: "127.0.0.1", port: ports.primary },
      replicas: ports.replicas.map((port) => ({ host: "127.0.0.1", port })),
      checkUser: APP_USER,
    }),
  );
}

function haproxySpec(bins: Binaries, layout: Layout, runAs: ServiceSpec["runAs"]): ServiceSpec {
  return {
    name: "haproxy",
    command: bins.haproxy,
    args: ["-db", "-f", path.join(layout.haproxy, "haproxy.cfg")],
    cwd: layout.dir,
    logFile: path.join(layout.logs, "haproxy.log"),
    runAs,
    stopSignal: "SIGTERM",
  };
}
