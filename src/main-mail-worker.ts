import { createMailWorker } from "./auth/mail/mail-worker.js";
import { createSmtpSender } from "./auth/mail/smtp-sender.js";
import { loadMailWorkerConfig } from "./platform/config.js";
import { createDb } from "./platform/db.js";
import { createLogger } from "./platform/log.js";
import { runMain } from "./platform/run-main.js";

/** The outbox delivery worker: run any number of these beside the auth service. */
runMain("mail worker", async () => {
  const config = loadMailWorkerConfig(process.env);
  const log = createLogger(config.logLevel, "mail-worker");
  const db = createDb({ writeUrl: config.databaseUrl, max: 2, onError: (error) => log.warn({ err: error }, "database connection lost") });
  const sender = createSmtpSender(config.smtpUrl, config.from);
  const worker = createMailWorker({ primary: db.write, sender, log, ...config });
  worker.start();
  log.info("mail worker started");
  return {
    log,
    async stop() {
      await worker.stop();
      sender.close();
      await db.close();
    },
  };
});
