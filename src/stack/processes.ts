import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface RunAs {
  uid: number;
  gid: number;
}

export interface CommandSpec {
  command: string;
  args: string[];
  cwd: string;
  /** stdout and stderr are appended here; the file is what errors quote. */
  logFile: string;
  runAs?: RunAs;
  env?: Record<string, string>;
}

export interface ServiceSpec extends CommandSpec {
  name: string;
  /** Postgres treats SIGINT as "fast shutdown"; SIGTERM would wait for clients to leave. */
  stopSignal: NodeJS.Signals;
}

export interface ProcessManager {
  /** Starts a long-running service, writes <runDir>/<name>.pid and returns its pid. */
  start(spec: ServiceSpec): number;
  /** Runs a one-shot command to completion; rejects with the tail of its log on failure. */
  run(spec: CommandSpec): Promise<void>;
  pid(name: string): number | undefined;
  pids(): Record<string, number>;
  /** Graceful stop (the service's stop signal), SIGKILL to its process group after timeoutMs. */
  stop(name: string, timeoutMs?: number): Promise<void>;
  /** SIGKILL to the whole process group, like a crash; waits for the exit. */
  kill(name: string): Promise<void>;
  /** Stops every service in reverse start order. */
  stopAll(): Promise<void>;
  /** Leaves the services running after this process exits (`up --detach`). */
  detach(): void;
}

const EXIT_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

export function createProcessManager(runDir: string, log: (line: string) => void = () => {}): ProcessManager {
  const services = new Map<string, { spec: ServiceSpec; child: ChildProcess; exited: Promise<void> }>();
  const transient = new Set<ChildProcess>();
  // First-start order, kept across restarts so shutdown order never depends on test history.
  const order: string[] = [];

  // Children run in their own process groups (detached) so a terminal Ctrl-C reaches only
  // us and we decide the shutdown order; these hooks make sure they never outlive us.
  const onExit = () => {
    for (const { spec, child } of services.values()) signal(child.pid, spec.stopSignal);
    for (const child of transient) signal(child.pid !== undefined ? -child.pid : undefined, "SIGKILL");
  };
  const onSignal = (sig: NodeJS.Signals) => {
    void stopAll().finally(() => {
      // Another stack in this process may still be stopping; the last one out exits.
      if (process.listenerCount(sig) === 0) process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGTERM" ? 15 : 1));
    });
  };
  const hooks = new Map<NodeJS.Signals, () => void>(EXIT_SIGNALS.map((sig) => [sig, () => onSignal(sig)]));
  let hooked = false;
  const hook = () => {
    if (hooked) return;
    hooked = true;
    process.on("exit", onExit);
    for (const [sig, fn] of hooks) process.on(sig, fn);
  };
  const unhook = () => {
    if (!hooked) return;
    hooked = false;
    process.off("exit", onExit);
    for (const [sig, fn] of hooks) process.off(sig, fn);
  };

  const pidFile = (name: string) => path.join(runDir, `${name}.pid`);

  function spawnLogged(spec: CommandSpec): ChildProcess {
    const fd = fs.openSync(spec.logFile, "a");
    try {
      return spawn(spec.command, spec.args, {
        cwd: spec.cwd,
        env: { ...minimalEnv(), ...spec.env },
        stdio: ["ignore", fd, fd],
        detached: true,
        ...(spec.runAs ? { uid: spec.runAs.uid, gid: spec.runAs.gid } : {}),
      });
    } finally {
      fs.closeSync(fd);
    }
  }

  function start(spec: ServiceSpec): number {
    if (services.has(spec.name)) throw new Error(`${spec.name} is already running (pid ${services.get(spec.name)?.child.pid})`);
    hook();
    const child = spawnLogged(spec);
    if (child.pid === undefined) throw new Error(`could not start ${spec.name} (${spec.command}); see ${spec.logFile}`);
    const exited = new Promise<void>((resolve) => {
      child.once("exit", (code, sig) => {
        log(`${spec.name} (pid ${child.pid}) exited ${sig ?? code}`);
        resolve();
      });
      child.once("error", () => resolve());
    });
    services.set(spec.name, { spec, child, exited });
    if (!order.includes(spec.name)) order.push(spec.name);
    fs.writeFileSync(pidFile(spec.name), `${child.pid}\n`);
    return child.pid;
  }

  async function run(spec: CommandSpec): Promise<void> {
    hook();
    const child = spawnLogged(spec);
    transient.add(child);
    try {
      const code = await new Promise<number | string>((resolve) => {
        child.once("exit", (c, sig) => resolve(sig ?? c ?? -1));
        child.once("error", (err) => resolve(err.message));
      });
      if (code !== 0) {
        throw new Error(`${path.basename(spec.command)} ${spec.args.join(" ")} failed (${code}); last lines of ${spec.logFile}:\n${tail(spec.logFile)}`);
      }
    } finally {
      transient.delete(child);
    }
  }

  async function stop(name: string, timeoutMs = 10_000): Promise<void> {
    const entry = services.get(name);
    if (!entry) return;
    const { child, spec, exited } = entry;
    if (child.exitCode === null && child.signalCode === null) {
      signal(child.pid, spec.stopSignal);
      const timedOut = await Promise.race([exited.then(() => false), sleep(timeoutMs).then(() => true)]);
      if (timedOut) {
        log(`${name} did not stop within ${timeoutMs} ms; killing`);
        await killTree(child.pid!);
      }
    }
    services.delete(name);
    fs.rmSync(pidFile(name), { force: true });
  }

  async function kill(name: string): Promise<void> {
    const entry = services.get(name);
    if (!entry) return;
    await killTree(entry.child.pid!);
    await entry.exited;
    services.delete(name);
    fs.rmSync(pidFile(name), { force: true });
  }

  // A terminal Ctrl-C reaches us once directly and once relayed by tsx/npm: share one shutdown.
  let stopping: Promise<void> | undefined;
  function stopAll(): Promise<void> {
    stopping ??= (async () => {
      await Promise.all([...transient].map((child) => killTree(child.pid!)));
      for (const name of [...order].reverse()) await stop(name);
      unhook();
    })().finally(() => {
      stopping = undefined;
    });
    return stopping;
  }

  return {
    start,
    run,
    pid: (name) => services.get(name)?.child.pid,
    pids: () => Object.fromEntries([...services].map(([name, { child }]) => [name, child.pid!])),
    stop,
    kill,
    stopAll,
    detach() {
      unhook();
      for (const { child } of services.values()) child.unref();
    },
  };
}

/** Stops a process we did not spawn (a detached stack), by pid, and waits for it to go. */
export async function stopPid(pid: number, stopSignal: NodeJS.Signals, timeoutMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return;
  signal(pid, stopSignal);
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(50);
  if (isAlive(pid)) await killTree(pid);
}

/**
 * SIGKILL to a process and every descendant, then waits until all are gone. Postgres puts
 * each backend in its own session, so killing the process group would leave them behind,
 * holding the shared memory a restarted postmaster then refuses to start over.
 */
async function killTree(pid: number): Promise<void> {
  const doomed = [pid, ...descendants(pid)];
  signal(-pid, "SIGKILL");
  for (const p of doomed) signal(p, "SIGKILL");
  while (doomed.some(isAlive)) await sleep(20);
}

function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  for (const entry of entries) {
    try {
      // Fields after the parenthesised command: state, ppid, ...
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited while we looked
    }
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  // A zombie still answers signal 0; it is not running.
  try {
    return !/^\d+ \(.*\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

export function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log written)";
  }
}

function signal(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** Children get PATH and locale only: no credentials or app settings leak into them. */
function minimalEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8", LC_ALL: "C.UTF-8" };
}
