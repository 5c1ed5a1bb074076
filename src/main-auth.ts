import { startAuthServer } from "./auth/app.js";
import { ConfigError, loadConfig } from "./platform/config.js";
import { createLogger } from "./platform/log.js";

/** The auth service alone, configured entirely by environment variables. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`auth service: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.logLevel);
  const server = await startAuthServer(config, { log });
  const stop = async (signal: string) => {
    log.info({ signal }, "shutting down");
    await server.close();
    process.exit(0);
  };
  process.once("SIGINT", () => void stop("SIGINT"));
  process.once("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((error: unknown) => {
  process.stderr.write(`auth service failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
