import { readFileSync } from "node:fs";
import { loadAuthConfig } from "./auth/config.js";
import { createClientAdmin } from "./auth/oauth/client-admin.js";
import { createClientRegistry } from "./auth/oauth/client-registry.js";
import { createGrantSessions } from "./auth/oauth/grant-sessions.js";
import { OAUTH_USAGE, runOAuthCommand, UsageError } from "./auth/oauth/oauth-cli.js";
import { createRedisSessionStore } from "./auth/sessions/redis-session-store.js";
import { systemClock } from "./platform/clock.js";
import { ConfigError } from "./platform/config.js";
import { createDb } from "./platform/db.js";
import { DomainError } from "./platform/errors.js";
import { createRedis, redisReady } from "./platform/redis.js";
import { createDurableWrites } from "./platform/redis-durable.js";

/** `npm run oauth -- ...`: OAuth client management on the primary, with the auth service's own environment. */
async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.length === 0 || argv[0] === "--help") {
    process.stdout.write(`${OAUTH_USAGE}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  const config = loadAuthConfig(process.env);
  const db = createDb({ writeUrl: config.databaseUrl });
  const redis = createRedis(config.redis);
  try {
    await redisReady(redis, config.redis);
    const sessions = createRedisSessionStore({ redis, durable: createDurableWrites(redis, config.redisDurability), clock: systemClock, idleTtlMs: config.sessionIdleTtlMs, absoluteTtlMs: config.sessionAbsoluteTtlMs, reuseGraceMs: 2_000 });
    const admin = createClientAdmin({ registry: createClientRegistry(db.write), grants: createGrantSessions({ primary: db.write, sessions }) });
    const lines = await runOAuthCommand(argv, admin, (path) => readFileSync(path, "utf8"));
    process.stdout.write(lines.map((line) => `${line}\n`).join(""));
    return 0;
  } finally {
    await db.close();
    await redis.quit().catch(() => redis.disconnect());
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) process.stderr.write(`oauth: ${error.message}\n${OAUTH_USAGE}\n`);
    else if (error instanceof ConfigError || error instanceof DomainError) process.stderr.write(`oauth: ${error.message}\n`);
    else process.stderr.write(`oauth failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(error instanceof UsageError || error instanceof ConfigError ? 2 : 1);
  },
);
