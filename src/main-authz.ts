import { startAuthzServer } from "./authz/app.js";
import { ConfigError, loadAuthzConfig } from "./authz/config.js";
import { createLogger } from "./platform/log.js";

/** The ext_authz / forward-auth server alone, configured entirely by environment variables. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadAuthzConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`authz server: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.logLevel).child({ service: "authz" });
  const server = await startAuthzServer(config, { log });
  const stop = async (signal: string) => {
    log.info({ signal }, "shutting down");
    await server.close();
    process.exit(0);
  };
  process.once("SIGINT", () => void stop("SIGINT"));
  process.once("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((error: unknown) => {
  process.stderr.write(`authz server failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
