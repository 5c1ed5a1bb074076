import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startAuthServer } from "./auth/app.js";
import { ConfigError, loadConfig } from "./platform/config.js";
import { createLogger } from "./platform/log.js";
import { loadStackConfig, StackConfigError } from "./stack/config.js";
import { formatEndpoints, startStack } from "./stack/stack.js";

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

/**
 * `npm start`: the auth service, on the whole local topology when no database
 * or Redis is configured (Postgres primary + replicas, PgBouncer, HAProxy,
 * Redis from Debian's packages), or on the configured ones otherwise.
 */
async function main(): Promise<void> {
  const env: Record<string, string | undefined> = { ...process.env };
  const say = (line: string) => process.stderr.write(`[start] ${line}\n`);

  if (!env.DATABASE_URL && !env.REDIS_URL) {
    const stackConfig = loadStackConfig(env, REPO_ROOT);
    const started = Date.now();
    const stack = await startStack({
      dir: stackConfig.dir,
      replicas: stackConfig.replicas,
      ports: stackConfig.ports,
      log: (line) => process.stderr.write(`[stack] ${line}\n`),
    });
    say(`data tier up in ${((Date.now() - started) / 1000).toFixed(1)} s (state in ${stackConfig.dir})`);
    process.stdout.write(formatEndpoints(stack));
    env.DATABASE_URL = stack.databaseUrl;
    env.DATABASE_PRIMARY_URL = stack.primaryUrl;
    env.DATABASE_REPLICA_URL = stack.replicaUrl;
    env.REDIS_URL = stack.redisUrl;
    env.SIGNING_KEY_ENCRYPTION_KEY ??= localSecret(stackConfig.dir, "signing-key-encryption-key");
  }

  const config = loadConfig(env);
  const log = createLogger(config.logLevel);
  const auth = await startAuthServer(config, { log });
  process.stdout.write(`# auth service (gRPC, gRPC-Web, Connect): ${auth.url}\n# JWKS: ${auth.url}/.well-known/jwks.json\n`);
  say("running; Ctrl-C stops everything this command started");
  const stop = async () => {
    await auth.close();
  };
  process.once("SIGINT", () => void stop());
  process.once("SIGTERM", () => void stop());
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof StackConfigError) {
    process.stderr.write(`npm start: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`npm start failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
