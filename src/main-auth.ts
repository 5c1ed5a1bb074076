import { startAuthServer } from "./auth/app.js";
import { loadAuthConfig } from "./auth/config.js";
import { createLogger } from "./platform/log.js";
import { runMain } from "./platform/run-main.js";
import { createTracing, loadTracingConfig } from "./platform/tracing.js";

/** The auth service alone, configured entirely by environment variables. */
runMain("auth service", async () => {
  const config = loadAuthConfig(process.env);
  const log = createLogger(config.logLevel);
  const tracing = await createTracing(loadTracingConfig(process.env, "auth"));
  const server = await startAuthServer(config, { log, tracing });
  return {
    log,
    async stop() {
      await server.close();
      await tracing.shutdown();
    },
  };
});
