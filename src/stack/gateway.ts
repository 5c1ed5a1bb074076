import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parsePort, StackConfigError } from "./config.js";
import { renderEnvoyConfig, renderNginxConfig, type EnvoyRenderOptions, type GatewayTargets } from "./gateway-config.js";
import { ensurePrograms, GATEWAY_REQUIREMENTS, whichProgram } from "./install.js";
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
  /** Default: envoy when an `envoy` binary is on PATH, nginx otherwise. */
  proxy?: GatewayProxy;
  /** Envoy's admin listener (loopback); default a free port. */
  adminPort?: number;
  /** Envoy's HTTPS listener on listen.host; no files: a certificate from the launcher's CA in `dir`/tls. */
  tls?: EdgeTlsConfig;
  /** The rate limit filter's domain, the service's RATE_LIMIT_DOMAIN; default envoy.yaml's. */
  rateLimitDomain?: string;
  /** Envoy's per-instance flood guard; default envoy.yaml's. */
  floodGuard?: FloodGuard;
  log?: (line: string) => void;
}

export interface RunningGateway {
  proxy: GatewayProxy;
  url: string;
  port: number;
  /** The HTTPS listener (Envoy only), and the CA to trust when the launcher made the certificate. */
  tls?: { url: string; caFile?: string };
  pid: number;
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
 *   GATEWAY_PROXY  envoy | nginx; default envoy when on PATH, else nginx
 */
export function loadGatewayConfig(env: Record<string, string | undefined>): GatewayConfig {
  const problems: string[] = [];
  const rawPort = env.GATEWAY_PORT?.trim() || "8080";
  const port = parsePort(rawPort);
  if (port === undefined) problems.push(`GATEWAY_PORT: expected a port number 1-65535, got "${rawPort}"`);
  const proxy = env.GATEWAY_PROXY?.trim() || undefined;
  if (proxy !== undefined && proxy !== "envoy" && proxy !== "nginx") problems.push(`GATEWAY_PROXY: expected envoy or nginx, got "${proxy}"`);
  if (port === undefined || problems.length > 0) throw new StackConfigError(problems);
  return { port, ...(proxy ? { proxy: proxy as GatewayProxy } : {}) };
}

/**
 * Starts the gateway in front of the auth service, the authz instances and the example upstream
 * as a child process tracked by pid like the stack's components (stopped on exit and by `down`):
 * Envoy with ext_authz over gRPC when installed, else nginx with auth_request against forward-auth.
 */
export async function startGateway(deps: GatewayDeps): Promise<RunningGateway> {
  const log = deps.log ?? (() => {});
  const proxy = deps.proxy ?? (whichProgram("envoy") ? "envoy" : "nginx");
  const dir = path.resolve(deps.dir);
  const layout = { conf: path.join(dir, NAME), run: path.join(dir, "run"), logs: path.join(dir, "logs") };
  for (const d of Object.values(layout)) fs.mkdirSync(d, { recursive: true });
  const binary = proxy === "envoy" ? whichProgram("envoy") : ensurePrograms(GATEWAY_REQUIREMENTS, { log }).nginx;
  if (!binary) throw new Error(`GATEWAY_PROXY=${proxy} but no ${proxy} binary is on PATH`);
  const runAs = ensureServiceUser();
  if (runAs) assertTraversable(layout.conf);

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
    const options: EnvoyRenderOptions = {
      ...(deps.rateLimitDomain ? { rateLimitDomain: deps.rateLimitDomain } : {}),
      ...(deps.floodGuard ? { floodGuard: deps.floodGuard } : {}),
      ...(tls ? { tls: { listen: { host: deps.listen.host, port: tls.port }, certFile: tls.certFile, keyFile: tls.keyFile } } : {}),
    };
    const spec = proxy === "envoy" ? await envoySpec(binary, layout, targets, deps.adminPort, runAs, options) : nginxSpec(binary, layout, targets, runAs);
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
      logFiles: [spec.logFile, ...(proxy === "nginx" ? [path.join(layout.conf, "access.log")] : [])],
      stop: () => procs.stopAll(),
    };
  }
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

async function envoySpec(
  binary: string,
  layout: Layout,
  targets: GatewayTargets,
  adminPort: number | undefined,
  runAs: RunAs | undefined,
  options: EnvoyRenderOptions,
): Promise<ServiceSpec> {
  fs.mkdirSync(layout.conf, { recursive: true });
  const file = path.join(layout.conf, "envoy.json");
  const yamlText = fs.readFileSync(path.join(REPO_ROOT, "envoy", "envoy.yaml"), "utf8");
  fs.writeFileSync(file, renderEnvoyConfig(yamlText, targets, adminPort ?? (await findFreePort()), options));
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
