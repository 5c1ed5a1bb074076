import { startAuthzServer } from "./authz/app.js";
import { loadAuthzConfig } from "./authz/config.js";
import { createLogger } from "./platform/log.js";
import { runMain } from "./platform/run-main.js";
import { createTracing, loadTracingConfig } from "./platform/tracing.js";

/** The ext_authz / forward-auth server alone, configured entirely by environment variables. */
runMain("authz server", async () => {
  const config = loadAuthzConfig(process.env);
  const log = createLogger(config.logLevel, "authz");
  const tracing = await createTracing(loadTracingConfig(process.env, "authz"));
  const server = await startAuthzServer(config, { log, tracing });
  return {
    log,
    async stop() {
      await server.close();
      await tracing.shutdown();
    },
  };
});
