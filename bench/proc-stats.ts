import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

// USER_HZ, which Linux fixes at 100 for what /proc reports.
const CLOCK_TICKS_PER_SECOND = 100;

function cpuJiffies(): { busy: number; total: number } {
  // "cpu  user nice system idle iowait irq softirq steal ..."; idle and iowait are the not-busy ones.
  const fields = (readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "").trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  return { busy: total - (fields[3] ?? 0) - (fields[4] ?? 0), total };
}

/** Starts a window; the function it returns gives how many cores the whole machine kept busy since (every process, not only ours). */
export function busyCoresSince(): () => number {
  const start = cpuJiffies();
  return () => {
    const end = cpuJiffies();
    const total = end.total - start.total;
    return total > 0 ? ((end.busy - start.busy) / total) * availableParallelism() : Number.NaN;
  };
}

/** Resident set size of a process in MiB; "VmHWM" is its peak since start. */
export function rssMiB(pid: number, field: "VmRSS" | "VmHWM" = "VmRSS"): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** Samples a process's RSS every 100 ms while `during` runs; resolves to the largest value seen. */
export async function peakRssDuring(pids: number[], during: () => Promise<void>): Promise<Map<number, number>> {
  const peak = new Map(pids.map((pid) => [pid, rssMiB(pid)]));
  const sample = () => {
    for (const pid of pids) peak.set(pid, Math.max(peak.get(pid) ?? 0, rssMiB(pid)));
  };
  const timer = setInterval(sample, 100);
  try {
    await during();
  } finally {
    clearInterval(timer);
  }
  sample();
  return peak;
}

function statOf(pid: number): { command: string; parent: number; cpuMs: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces, hence the last ")"): the parent is the 2nd, utime and stime the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    command: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")),
    parent: Number(fields[1]),
    cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND,
  };
}

/** CPU time a process has used (user + system) in ms, from /proc/<pid>/stat. */
export const cpuMs = (pid: number): number => statOf(pid).cpuMs;

/** Every process now, with its command line (a process gone between the listing and the read is left out). */
function processes(): Map<number, { command: string; parent: number; cpuMs: number; commandLine: string }> {
  const procs = new Map<number, { command: string; parent: number; cpuMs: number; commandLine: string }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const pid = Number(entry);
      procs.set(pid, { ...statOf(pid), commandLine: readFileSync(`/proc/${pid}/cmdline`, "utf8") });
    } catch {
      // Gone between the listing and the read.
    }
  }
  return procs;
}

/** The pid of the process `command` whose command line holds `marker`, if one runs now. */
export function pidOf(command: string, marker: string): number | undefined {
  for (const [pid, proc] of processes()) if (proc.command === command && proc.commandLine.includes(marker)) return pid;
  return undefined;
}

/**
 * CPU time used so far, in ms per command name, by the processes whose command line holds one of
 * `markers` (the directory a data tier runs in; Redis rewrites its own to its address) and their
 * descendants (Postgres' backends): not those of another stack sharing the machine.
 */
export function cpuMsOfStack(markers: readonly string[]): Map<string, number> {
  const procs = processes();
  const named = (pid: number) => markers.some((marker) => procs.get(pid)!.commandLine.includes(marker));
  const inStack = (pid: number): boolean => {
    for (let at: number | undefined = pid; at !== undefined && procs.has(at); at = procs.get(at)!.parent) if (named(at)) return true;
    return false;
  };
  const totals = new Map<string, number>();
  for (const [pid, proc] of procs) if (inStack(pid)) totals.set(proc.command, (totals.get(proc.command) ?? 0) + proc.cpuMs);
  return totals;
}

/** The data tier's programs, whose CPU per call is the call's too. */
export const DATA_TIER_PROGRAMS = ["redis-server", "pgbouncer", "postgres"] as const;

/**
 * Starts counting the CPU of one service and of the data tier's programs (`programs`, found by
 * `markers` as in cpuMsOfStack); the returned function gives each one's µs per call for `calls`.
 */
export function cpuPerCallSince(pid: number, markers: readonly string[], programs: readonly string[]): (calls: number) => { serviceUs: number; tier: string } {
  const serviceBefore = cpuMs(pid);
  const tierBefore = cpuMsOfStack(markers);
  return (calls) => {
    const tier = [...cpuMsOfStack(markers)]
      .filter(([command]) => programs.includes(command))
      .map(([command, ms]) => `${command} ${(((ms - (tierBefore.get(command) ?? 0)) / calls) * 1000).toFixed(0)} µs`)
      .join(", ");
    return { serviceUs: ((cpuMs(pid) - serviceBefore) / calls) * 1000, tier };
  };
}
