import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/** The parts of a V8 .cpuprofile (node --cpu-prof) a self-time summary needs. */
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>;
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  /** `name (file:line)`, the file relative to the repository or node_modules. */
  where: string;
  ms: number;
  /** Share of the busy samples (everything but "(idle)"). */
  share: number;
}

function placeOf(url: string, repoRoot: string): string {
  if (url === "") return "";
  const file = url.startsWith("file://") ? new URL(url).pathname : url;
  const modules = file.lastIndexOf("/node_modules/");
  return modules >= 0 ? file.slice(modules + "/node_modules/".length) : path.relative(repoRoot, file);
}

/** Where a frame's code comes from: a package, our sources, Node's own, or V8 ("(garbage collector)"). */
function originOf(url: string, functionName: string, repoRoot: string): string {
  if (url === "") return functionName;
  if (url.startsWith("node:")) return "node internals";
  const place = placeOf(url, repoRoot);
  if (url.includes("/node_modules/")) return place.split("/").slice(0, place.startsWith("@") ? 2 : 1).join("/");
  return place.split("/")[0] === "dist" || place.startsWith("src/") ? "our code" : place;
}

const ranked = (totals: Map<string, number>, busyMs: number): SelfTime[] =>
  [...totals.entries()].map(([where, ms]) => ({ where, ms, share: busyMs > 0 ? ms / busyMs : 0 })).sort((a, b) => b.ms - a.ms);

/** Self time per function and per origin of one profile, busiest first; idle time is left out of the shares. */
export function selfTimes(profileFile: string, repoRoot: string): { busyMs: number; top: SelfTime[]; origins: SelfTime[] } {
  const profile = JSON.parse(readFileSync(profileFile, "utf8")) as CpuProfile;
  const samples = profile.nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0);
  const msPerSample = samples > 0 ? (profile.endTime - profile.startTime) / 1000 / samples : 0;
  const byPlace = new Map<string, number>();
  const byOrigin = new Map<string, number>();
  for (const node of profile.nodes) {
    if (!node.hitCount || node.callFrame.functionName === "(idle)") continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = placeOf(url, repoRoot);
    const where = file ? `${functionName || "(anonymous)"} (${file}:${lineNumber + 1})` : functionName;
    const ms = node.hitCount * msPerSample;
    byPlace.set(where, (byPlace.get(where) ?? 0) + ms);
    const origin = originOf(url, functionName, repoRoot);
    byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + ms);
  }
  const busyMs = [...byPlace.values()].reduce((sum, ms) => sum + ms, 0);
  return { busyMs, top: ranked(byPlace, busyMs), origins: ranked(byOrigin, busyMs) };
}

/** Where a profiled process writes its .cpuprofile (PROFILE_DIR, else `profile` under `dir`), and the node flags that make it. */
export function cpuProfiling(dir: string): { profileDir: string; nodeFlags: string[] } {
  const profileDir = process.env.PROFILE_DIR ?? path.join(dir, "profile");
  mkdirSync(profileDir, { recursive: true });
  return { profileDir, nodeFlags: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] };
}

/** Prints the busiest origins and functions of the one .cpuprofile in `profileDir`, as markdown tables. */
export function printProfile(profileDir: string, repoRoot: string, topFunctions = 25): void {
  const profile = readdirSync(profileDir).find((name) => name.endsWith(".cpuprofile"));
  if (!profile) throw new Error(`no .cpuprofile in ${profileDir}`);
  const { top, origins } = selfTimes(path.join(profileDir, profile), repoRoot);
  const line = (row: SelfTime) => `| ${row.where} | ${row.ms.toFixed(0)} | ${(row.share * 100).toFixed(1)} % |`;
  console.log("");
  console.log("| origin | self ms | share |\n| --- | --- | --- |");
  for (const row of origins.slice(0, 12)) console.log(line(row));
  console.log("");
  console.log("| function | self ms | share |\n| --- | --- | --- |");
  for (const row of top.slice(0, topFunctions)) console.log(line(row));
}
