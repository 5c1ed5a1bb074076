import { createLogger } from "./platform/log.js";
import { runMain } from "./platform/run-main.js";
import { startRateLimitServer } from "./ratelimit/app.js";
import { loadRateLimitConfig } from "./ratelimit/config.js";

/** Envoy's global rate limit service alone, configured entirely by environment variables. */
runMain("rate limit service", async () => {
  const config = loadRateLimitConfig(process.env);
  const log = createLogger(config.logLevel, "ratelimit");
  const server = await startRateLimitServer(config, { log });
  return { log, stop: () => server.close() };
});
