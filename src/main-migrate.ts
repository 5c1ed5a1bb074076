import { createLogger } from "./platform/log.js";
import { migrate } from "./platform/migrate.js";

/** Applies migrations to DATABASE_PRIMARY_URL (or DATABASE_URL): the primary, never a transaction pool. */
async function main(): Promise<void> {
  const url = process.env.DATABASE_PRIMARY_URL || process.env.DATABASE_URL;
  if (!url) {
    process.stderr.write("migrate: DATABASE_PRIMARY_URL (or DATABASE_URL) is required\n");
    process.exit(2);
  }
  const log = createLogger(process.env.LOG_LEVEL ?? "info");
  const applied = await migrate(url, log);
  log.info({ applied }, applied.length > 0 ? "migrations applied" : "schema up to date");
}

main().catch((error: unknown) => {
  process.stderr.write(`migrate failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
