import { runMailWorker } from "./auth/mail/run-mail-worker.js";
import { loadMailWorkerConfig } from "./auth/mail/config.js";
import { createLogger } from "./platform/log.js";
import { runMain } from "./platform/run-main.js";

/** The outbox delivery worker: run any number of these beside the auth service. */
runMain("mail worker", async () => {
  const config = loadMailWorkerConfig(process.env);
  const log = createLogger(config.logLevel, "mail-worker");
  return { log, stop: runMailWorker(config, log).stop };
});
