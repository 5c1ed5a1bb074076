import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadAuthzConfig } from "./authz/config.js";
import { startExampleUpstream } from "./example/upstream.js";
import { loadAuthConfig } from "./auth/config.js";
import { loadMailWorkerConfig } from "./auth/mail/config.js";
import { runMailWorker } from "./auth/mail/run-mail-worker.js";
import { ConfigError } from "./platform/config.js";
import { createLogger } from "./platform/log.js";
import { loadTracingConfig } from "./platform/tracing.js";
import { loadInstanceCounts, startAuthInstance, startAuthzInstance, type AuthInstance, type AuthzInstance } from "./stack/app-instances.js";
import { loadStackConfig } from "./stack/config.js";
import { loadGatewayConfig, startGateway } from "./stack/gateway.js";
import { startMailSink } from "./stack/mail-sink.js";
import { createProcessManager } from "./stack/processes.js";
import { startRateLimitServer } from "./ratelimit/app.js";
import { loadRateLimitConfig } from "./ratelimit/config.js";
import { loadEdgeConfig } from "./stack/edge-config.js";
import { formatEndpoints, startStack } from "./stack/stack.js";
import { endpointOf } from "./stack/render-config.js";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * The local launcher's secret: generated once per state directory and kept
 * there, so signing keys encrypted in a previous run still decrypt. Only the
 * launcher has such a default; a deployment must set the variable itself.
 */
function localSecret(dir: string, name: string): string {
  const file = path.join(dir, "secrets", name);
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const value = randomBytes(32).toString("base64");
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return value;
}

const EXAMPLE_PORT = 7010;
const MAIL_SINK_PORT = 2525;
/**
 * `npm start`: the whole request path on one machine. The data tier when no database or Redis is
 * configured (Postgres primary + replicas, PgBouncer, HAProxy, Redis from Debian's packages), then
 * AUTH_INSTANCES auth services and AUTHZ_INSTANCES authz servers (two each by default), each its
 * own process so one can die without an outage, the example upstream and the mail worker in this
 * process, and the gateway (Envoy; nginx only if Envoy cannot be had) in front of them.
 */
async function main(): Promise<void> {
  const env: Record<string, string | undefined> = { ...process.env };
  const say = (line: string) => process.stderr.write(`[start] ${line}\n`);
  const stackConfig = loadStackConfig(env, REPO_ROOT);
  const gatewayConfig = loadGatewayConfig(env);
  const counts = loadInstanceCounts(env);
  const edgeConfig = loadEdgeConfig(env);
  // The services read OTEL_EXPORTER_OTLP_ENDPOINT themselves; Envoy is given the same collector.
  const tracesUrl = loadTracingConfig(env, "gateway")?.tracesUrl;
  const gatewayUrl = `http://127.0.0.1:${gatewayConfig.port}`;
  let endpoints = "";

  if (!env.DATABASE_URL && !env.REDIS_URL && !env.REDIS_CLUSTER_NODES) {
    const started = Date.now();
    const stack = await startStack({
      dir: stackConfig.dir,
      replicas: stackConfig.replicas,
      redis: stackConfig.redis,
      ports: stackConfig.ports,
      log: (line) => process.stderr.write(`[stack] ${line}\n`),
    });
    say(`data tier up in ${((Date.now() - started) / 1000).toFixed(1)} s (state in ${stackConfig.dir})`);
    endpoints = formatEndpoints(stack);
    env.DATABASE_URL = stack.databaseUrl;
    env.DATABASE_PRIMARY_URL = stack.primaryUrl;
    env.DATABASE_REPLICA_URL = stack.replicaUrl;
    env.REDIS_URL = stack.redisUrl;
    env.REDIS_CLUSTER_NODES = stack.redisClusterNodes;
    env.SIGNING_KEY_ENCRYPTION_KEY ??= localSecret(stackConfig.dir, "signing-key-encryption-key");
  }

  // The gateway runs on this machine and appends the client's address to X-Forwarded-For; without
  // trusting it, every client would share one IP for rate limits and the lockout's known devices.
  env.TRUSTED_PROXIES ??= "127.0.0.1";
  // The gateway is where users reach the deployment: mail links, the token issuer and the sign-in
  // redirect all derive from it (src/contract/shared-settings.ts).
  env.PUBLIC_BASE_URL ??= gatewayUrl;
  const config = loadAuthConfig(env);
  const log = createLogger(config.logLevel);
  const procs = createProcessManager(path.join(stackConfig.dir, "run"), (line) => say(line));
  const logsDir = path.join(stackConfig.dir, "logs");
  mkdirSync(logsDir, { recursive: true });
  const serviceEnv = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  // Chromium keeps Secure cookies on http://127.0.0.1 and localhost (potentially trustworthy
  // origins), so the launcher keeps SESSION_COOKIE_SECURE's default: test/integration/e2e/browser.test.ts.
  // The first instance of each listens on the documented ports, the others on free ones (printed below).
  const auths: AuthInstance[] = [];
  for (let i = 0; i < counts.auth; i++) auths.push(await startAuthInstance({ procs, logsDir, env: serviceEnv }, i, i === 0 ? config.port : 0));
  // The cookie name, issuer, audience and sign-in page come from the same variables for both (src/contract/shared-settings.ts).
  const authzEnv = { ...serviceEnv, AUTHZ_JWKS_URL: env.AUTHZ_JWKS_URL ?? `${auths[0]!.url}/.well-known/jwks.json` };
  const authzConfig = loadAuthzConfig(authzEnv);
  const authzs: AuthzInstance[] = await Promise.all(
    Array.from({ length: counts.authz }, (_, i) =>
      startAuthzInstance({ procs, logsDir, env: authzEnv }, i, i === 0 ? { grpc: authzConfig.port, http: authzConfig.httpPort } : { grpc: 0, http: 0 }),
    ),
  );
  // Envoy's global rate limit service: the gateway's budgets in the same Redis as the auth service's.
  const ratelimitConfig = loadRateLimitConfig(env);
  const ratelimit = await startRateLimitServer(ratelimitConfig, { log: createLogger(config.logLevel, "ratelimit") });
  const example = await startExampleUpstream("127.0.0.1", EXAMPLE_PORT);
  // Without SMTP_URL, mail goes to a local sink that keeps every message as a file to open.
  const mailDir = path.join(stackConfig.dir, "mail");
  const sink = env.SMTP_URL
    ? undefined
    : await startMailSink({
        port: MAIL_SINK_PORT,
        dir: mailDir,
        onMail: (mail) => say(`mail to ${mail.to}: "${mail.subject}" -> ${mail.file}`),
      });
  const mailConfig = loadMailWorkerConfig({ ...env, SMTP_URL: env.SMTP_URL ?? sink?.url });
  const mailWorker = runMailWorker(mailConfig, createLogger(config.logLevel, "mail-worker"));
  log.info({ auth: auths.map((a) => a.url), authz: authzs.map((a) => a.endpoints.grpc.port) }, "services started");
  const gateway = await startGateway({
    dir: stackConfig.dir,
    listen: endpointOf(gatewayUrl),
    auth: auths.map((a) => a.endpoint),
    authz: authzs.map((a) => a.endpoints),
    example: endpointOf(example.url),
    ratelimit: [ratelimit.endpoint],
    rateLimitDomain: ratelimitConfig.domain,
    tls: edgeConfig.tls,
    ...(edgeConfig.floodGuard ? { floodGuard: edgeConfig.floodGuard } : {}),
    ...(tracesUrl ? { tracesUrl } : {}),
    ...(gatewayConfig.proxy ? { proxy: gatewayConfig.proxy } : {}),
    log: (line) => process.stderr.write(`[gateway] ${line}\n`),
  });

  process.stdout.write(
    [
      `# gateway: ${gateway.proxy === "envoy" ? "Envoy (ext_authz over gRPC)" : "nginx (auth_request to forward-auth)"} on ${gateway.url}  <- open ${gateway.url}/example/ in a browser`,
      ...(gateway.adminUrl ? [`# Envoy admin (loopback): ${gateway.adminUrl}/clusters`] : []),
      ...auths.map((a) => `# ${a.name} (gRPC, gRPC-Web, Connect): ${a.url}  pid ${a.pid}, log ${a.logFile}`),
      `# JWKS: ${auths[0]!.url}/.well-known/jwks.json (also ${gateway.url}/.well-known/jwks.json); issuer ${config.shared.issuer}`,
      ...authzs.map((a) => `# ${a.name} (ext_authz gRPC ${a.endpoints.grpc.host}:${a.endpoints.grpc.port}, forward-auth and /metrics ${a.httpUrl})  pid ${a.pid}, log ${a.logFile}`),
      ...(gateway.tls ? [`# gateway HTTPS: ${gateway.tls.url}${gateway.tls.caFile ? `  (certificate from the local CA ${gateway.tls.caFile}; curl --cacert it)` : ""}`] : []),
      `# rate limit service (Envoy's envoy.service.ratelimit.v3): ${ratelimit.address}, /metrics ${ratelimit.httpUrl}`,
      `# example upstream (direct, unprotected): ${example.url}`,
      sink ? `# mail: SMTP ${sink.url}, every message kept in ${mailDir}/` : `# mail: delivered through ${mailConfig.smtpUrl}`,
      `# gateway logs: ${gateway.logFiles.join(", ")}`,
      endpoints,
    ].join("\n"),
  );
  say("running; Ctrl-C stops everything this command started");

  // The stack's and the gateway's process managers stop their children on the same signals; the
  // last handler to finish exits, so the in-process servers close before the process ends.
  let closing: Promise<void> | undefined;
  const closeInProcess = () =>
    (closing ??= (async () => {
      const closers = [
        () => mailWorker.stop(),
        async () => sink?.close(),
        () => example.close(),
        () => ratelimit.close(),
      ];
      for (const close of closers) await close().catch(() => {});
    })());
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    const onSignal = () => {
      void closeInProcess().finally(() => {
        process.off(signal, onSignal);
        if (process.listenerCount(signal) === 0) process.exit(signal === "SIGINT" ? 130 : 143);
      });
    };
    process.on(signal, onSignal);
  }
}

main().catch((error: unknown) => {
  // StackConfigError is a ConfigError too.
  if (error instanceof ConfigError) {
    process.stderr.write(`npm start: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`npm start failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
