import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";
import type { Logger } from "./log.js";

export const MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations", import.meta.url));

/**
 * Applies pending migrations. Must be given the primary directly, never the
 * transaction pool: node-pg-migrate serialises concurrent runners with a
 * session-level advisory lock, which PgBouncer's transaction mode would break.
 */
export async function migrate(primaryUrl: string, log: Logger): Promise<string[]> {
  const applied = await runner({
    // The server's statement_timeout is a backstop for requests; a migration may take longer.
    databaseUrl: { connectionString: primaryUrl, options: "-c statement_timeout=0" },
    dir: MIGRATIONS_DIR,
    direction: "up",
    migrationsTable: "schema_migrations",
    count: Number.POSITIVE_INFINITY,
    checkOrder: true,
    singleTransaction: true,
    // A second instance starting at the same time waits for the first instead of failing.
    advisoryLockMode: "wait",
    logger: { debug: () => {}, info: (msg: string) => log.debug(msg), warn: (msg: string) => log.warn(msg), error: (msg: string) => log.error(msg) },
  });
  return applied.map((m) => m.name);
}
