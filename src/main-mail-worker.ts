import { createMailWorker } from "./auth/mail/mail-worker.js";
import { createSmtpSender } from "./auth/mail/smtp-sender.js";
import { ConfigError, loadMailWorkerConfig } from "./platform/config.js";
import { createDb } from "./platform/db.js";
import { createLogger } from "./platform/log.js";

/** The outbox delivery worker: run any number of these beside the auth service. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadMailWorkerConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`mail worker: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.logLevel).child({ service: "mail-worker" });
  const db = createDb({ writeUrl: config.databaseUrl, max: 2, onError: (error) => log.warn({ err: error }, "database connection lost") });
  const sender = createSmtpSender(config.smtpUrl, config.from);
  const worker = createMailWorker({ primary: db.write, sender, log, ...config });
  worker.start();
  log.info("mail worker started");
  const stop = async (signal: string) => {
    log.info({ signal }, "shutting down");
    await worker.stop();
    sender.close();
    await db.close();
    process.exit(0);
  };
  process.once("SIGINT", () => void stop("SIGINT"));
  process.once("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((error: unknown) => {
  process.stderr.write(`mail worker failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
