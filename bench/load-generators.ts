import { execFile, execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { ensurePrograms, whichProgram } from "../src/stack/install.js";

/** What every load generator reports for one timed run. */
export interface LoadResult {
  rps: number;
  p99Ms: number;
  /** Answers that were not what the run expects (non-2xx, gRPC errors, socket errors). */
  failures: number;
}

const run = promisify(execFile);
const REPO_ROOT = path.resolve(import.meta.dirname, "..");

// The version the bench was written against; apt has no ghz, so it comes from the Go module proxy.
const GHZ_MODULE = "github.com/bojand/ghz/cmd/ghz@v0.93.0";

/** ghz on PATH or in ~/go/bin, else `go install`ed there when Go is on the machine. */
export function ghzBinary(): string {
  const locate = () => whichProgram("ghz") ?? [path.join(homedir(), "go", "bin", "ghz")].find((candidate) => existsSync(candidate));
  const found = locate();
  if (found) return found;
  const go = whichProgram("go") ?? ["/usr/local/go/bin/go"].find((candidate) => existsSync(candidate));
  if (!go) throw new Error(`ghz not found and no Go to install it: go install ${GHZ_MODULE} (or put ghz on PATH)`);
  execFileSync(go, ["install", GHZ_MODULE], { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, GOBIN: path.join(homedir(), "go", "bin") } });
  const installed = locate();
  if (!installed) throw new Error(`go install ${GHZ_MODULE} left no ghz in ~/go/bin`);
  return installed;
}

export interface GhzRun {
  target: string;
  /** A JSON file of one request message, or an array that ghz sends round-robin. */
  dataFile: string;
  /** A JSON file of the call's metadata, one object or an array that ghz sends round-robin. */
  metadataFile?: string;
  concurrency: number;
  connections: number;
  seconds: number;
}

interface GhzMethod {
  proto: string;
  importPaths: string;
  call: string;
}

/** One timed ghz run of a unary call; every status but OK is a failure. */
async function ghz(method: GhzMethod, options: GhzRun): Promise<LoadResult> {
  const { stdout } = await run(
    ghzBinary(),
    [
      "--insecure",
      "--proto", method.proto,
      "--import-paths", method.importPaths,
      "--call", method.call,
      "--data-file", options.dataFile,
      ...(options.metadataFile ? ["--metadata-file", options.metadataFile] : []),
      "--concurrency", String(options.concurrency),
      "--connections", String(options.connections),
      "--duration", `${options.seconds}s`,
      // Calls still in flight when the time is up are cut; they are neither answers nor errors.
      "--duration-stop", "ignore",
      "--format", "json",
      options.target,
    ],
    { cwd: REPO_ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: (options.seconds + 60) * 1000 },
  );
  const report = JSON.parse(stdout) as {
    count: number;
    rps: number;
    latencyDistribution?: Array<{ percentage: number; latency: number }> | null;
    statusCodeDistribution?: Record<string, number>;
  };
  const p99 = report.latencyDistribution?.find((bucket) => bucket.percentage === 99)?.latency;
  const failures = Object.entries(report.statusCodeDistribution ?? {}).reduce((sum, [code, n]) => (code === "OK" ? sum : sum + n), 0);
  // ghz's rate counts errors too: a service refusing fast must not look fast for it.
  const rps = report.count > 0 ? (report.rps * (report.count - failures)) / report.count : 0;
  return { rps, p99Ms: p99 === undefined ? Number.NaN : p99 / 1e6, failures };
}

/** envoy.service.auth.v3.Authorization/Check under ghz. Allow or deny both answer gRPC OK; the caller proves the verdict beforehand. */
export const ghzCheck = (options: GhzRun) =>
  ghz({ proto: "envoy/api/envoy/service/auth/v3/external_auth.proto", importPaths: "envoy/api", call: "envoy.service.auth.v3.Authorization.Check" }, options);

/** auth.v1.AuthService/GetMe under ghz; the bearer travels in the metadata file. */
export const ghzGetMe = (options: GhzRun) => ghz({ proto: "proto/auth/v1/auth.proto", importPaths: "proto", call: "auth.v1.AuthService.GetMe" }, options);

export interface H2loadPost {
  url: string;
  bodyFile: string;
  headers: Record<string, string>;
  clients: number;
  /** A timed run, or a number of requests (a smoke run on a machine where one request may outlast any short window). */
  length: { seconds: number } | { requests: number };
  /** Where h2load writes its per-request log, the source of the p99. */
  logFile: string;
}

/** POSTs over h2c with h2load; h2load reports no percentiles, so the p99 comes from its per-request log. */
export async function h2loadPost(options: H2loadPost): Promise<LoadResult> {
  const binary = ensurePrograms([{ name: "h2load", debianPackage: "nghttp2-client", locate: () => whichProgram("h2load") }]).h2load!;
  const headerArgs = Object.entries(options.headers).flatMap(([name, value]) => ["-H", `${name}: ${value}`]);
  const length = "seconds" in options.length ? ["-D", String(options.length.seconds)] : ["-n", String(options.length.requests)];
  const { stdout } = await run(
    binary,
    ["-c", String(options.clients), "-m", "1", ...length, "-d", options.bodyFile, "--log-file", options.logFile, ...headerArgs, options.url],
    { encoding: "utf8", timeout: 600_000 },
  );
  // Log lines: start time (µs since epoch), status, elapsed µs.
  const lines = readFileSync(options.logFile, "utf8").trim().split("\n").filter(Boolean);
  rmSync(options.logFile, { force: true });
  const elapsed = lines.map((line) => Number(line.split("\t")[2]) / 1000).sort((a, b) => a - b);
  const ok = lines.filter((line) => line.split("\t")[1]?.startsWith("2")).length;
  const finished = /finished in ([\d.]+)(ms|s),/.exec(stdout);
  const seconds = finished ? Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1) : Number.NaN;
  return {
    rps: ok / seconds,
    p99Ms: elapsed[Math.min(elapsed.length - 1, Math.floor(0.99 * elapsed.length))] ?? Number.NaN,
    failures: lines.length - ok,
  };
}

/** wrk's "99%  1.23ms" (or us, s) in ms. */
function latencyMs(text: string, percentile: string): number {
  const match = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s)\\s*$`, "m").exec(text);
  if (!match) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
}

/** GET with wrk (HTTP/1.1 keep-alive), the generator for the gateway paths. */
export async function wrkGet(url: string, connections: number, seconds: number, headers: Record<string, string>): Promise<LoadResult> {
  const binary = ensurePrograms([{ name: "wrk", debianPackage: "wrk", locate: () => whichProgram("wrk") }]).wrk!;
  const headerArgs = Object.entries(headers).flatMap(([name, value]) => ["-H", `${name}: ${value}`]);
  const { stdout } = await run(binary, ["-t", "2", "-c", String(connections), "-d", `${seconds}s`, "--latency", ...headerArgs, url], {
    encoding: "utf8",
    timeout: (seconds + 30) * 1000,
  });
  const number = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? 0);
  const socketErrors = [...stdout.matchAll(/(?:connect|read|write|timeout) (\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
  const requests = number(/^\s*(\d+) requests in/m);
  const refused = number(/Non-2xx or 3xx responses:\s+(\d+)/);
  // wrk's rate counts every answer; a gateway that fails closed under load must not look fast for it.
  const rps = requests > 0 ? (number(/^Requests\/sec:\s+([\d.]+)/m) * (requests - refused)) / requests : 0;
  return { rps, p99Ms: latencyMs(stdout, "99"), failures: refused + socketErrors };
}
