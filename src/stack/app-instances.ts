import { EnvReader, type Env } from "../platform/config.js";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { StackConfigError } from "./config.js";
import type { AuthzEndpoints } from "./gateway-config.js";
import { findFreePort } from "./ports.js";
import { isAlive, type ProcessManager } from "./processes.js";
import { waitUntil } from "./readiness.js";
import type { Endpoint } from "./render-config.js";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
// Migrations and the first signing key happen on an auth instance's start; tsx compiles on the fly.
const START_TIMEOUT_MS = 60_000;
const MAX_INSTANCES = 16;

export interface InstanceCounts {
  auth: number;
  authz: number;
}

/**
 * How many processes of each service the launcher runs behind the gateway, from env, pure:
 *   AUTH_INSTANCES   default 2
 *   AUTHZ_INSTANCES  default 2
 * Two of each by default, so one can die (or be killed) without an outage.
 */
export function loadInstanceCounts(env: Env): InstanceCounts {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);
  const counts = { auth: read.integer("AUTH_INSTANCES", 2, 1, MAX_INSTANCES), authz: read.integer("AUTHZ_INSTANCES", 2, 1, MAX_INSTANCES) };
  if (problems.length > 0) throw new StackConfigError(problems);
  return counts;
}

export interface InstanceDeps {
  procs: ProcessManager;
  /** Each instance logs to <logsDir>/<name>.log. */
  logsDir: string;
  /** The service's whole configuration (it reads nothing else); ports are set per instance. */
  env: Record<string, string>;
  /** Run dist/main-*.js with plain node, as production does (`npm run build` first), instead of the sources under tsx. */
  compiled?: boolean;
  /** Options for node itself, before the entry point (such as --cpu-prof, which NODE_OPTIONS refuses). */
  nodeFlags?: string[];
}

export interface AuthInstance {
  name: string;
  pid: number;
  url: string;
  endpoint: Endpoint;
  logFile: string;
}

export interface AuthzInstance {
  name: string;
  pid: number;
  endpoints: AuthzEndpoints;
  httpUrl: string;
  logFile: string;
}

const HOST = "127.0.0.1";

/** `port` 0 picks a free one. The instance is its own OS process (src/main-auth.ts), ready when /healthz answers. */
export async function startAuthInstance(deps: InstanceDeps, index: number, port: number): Promise<AuthInstance> {
  const actual = port || (await findFreePort());
  const name = `auth-${index}`;
  const url = `http://${HOST}:${actual}`;
  const logFile = await startNodeService(deps, name, "main-auth", { AUTH_HOST: HOST, AUTH_PORT: String(actual) }, `${url}/healthz`);
  return { name, pid: deps.procs.pid(name)!, url, endpoint: { host: HOST, port: actual }, logFile };
}

/** Ports 0 pick free ones. Its own OS process (src/main-authz.ts), ready when /healthz answers (after its issuer check). */
export async function startAuthzInstance(deps: InstanceDeps, index: number, ports: { grpc: number; http: number }): Promise<AuthzInstance> {
  const grpc = ports.grpc || (await findFreePort());
  let http = ports.http || (await findFreePort());
  while (http === grpc) http = await findFreePort();
  const name = `authz-${index}`;
  const httpUrl = `http://${HOST}:${http}`;
  const logFile = await startNodeService(deps, name, "main-authz", { AUTHZ_HOST: HOST, AUTHZ_PORT: String(grpc), AUTHZ_HTTP_PORT: String(http) }, `${httpUrl}/healthz`);
  return { name, pid: deps.procs.pid(name)!, endpoints: { grpc: { host: HOST, port: grpc }, http: { host: HOST, port: http } }, httpUrl, logFile };
}

async function startNodeService(deps: InstanceDeps, name: string, main: string, ports: Record<string, string>, healthUrl: string): Promise<string> {
  const logFile = path.join(deps.logsDir, `${name}.log`);
  const entry = deps.compiled ? `dist/${main}.js` : `src/${main}.ts`;
  deps.procs.start({
    name,
    command: process.execPath,
    args: [...(deps.nodeFlags ?? []), ...(deps.compiled ? [] : ["--import", "tsx"]), entry],
    cwd: REPO_ROOT,
    logFile,
    env: { ...deps.env, ...ports },
    // runMain stops the servers on SIGTERM and exits.
    stopSignal: "SIGTERM",
  });
  await waitUntil(async () => (await fetch(healthUrl, { signal: AbortSignal.timeout(1000) })).ok, {
    what: `${name} (${entry})`,
    timeoutMs: START_TIMEOUT_MS,
    logFile,
    alive: () => isAlive(deps.procs.pid(name) ?? -1),
    intervalMs: 200,
  });
  return logFile;
}
