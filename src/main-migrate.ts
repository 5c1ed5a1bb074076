import { loadMigrateConfig } from "./auth/config.js";
import { createLogger } from "./platform/log.js";
import { migrate } from "./platform/migrate.js";
import { runOnce } from "./platform/run-main.js";

/** Applies migrations to DATABASE_PRIMARY_URL (or DATABASE_URL): the primary, never a transaction pool. */
runOnce("migrate", async () => {
  const config = loadMigrateConfig(process.env);
  const log = createLogger(config.logLevel, "migrate");
  const applied = await migrate(config.primaryUrl, log);
  log.info({ applied }, applied.length > 0 ? "migrations applied" : "schema up to date");
});
