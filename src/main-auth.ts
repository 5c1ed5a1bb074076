import { startAuthServer } from "./auth/app.js";
import { loadAuthConfig } from "./auth/config.js";
import { createLogger } from "./platform/log.js";
import { runMain } from "./platform/run-main.js";

/** The auth service alone, configured entirely by environment variables. */
runMain("auth service", async () => {
  const config = loadAuthConfig(process.env);
  const log = createLogger(config.logLevel);
  const server = await startAuthServer(config, { log });
  return { log, stop: () => server.close() };
});
