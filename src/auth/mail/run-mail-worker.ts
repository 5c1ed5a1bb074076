import type { MailWorkerConfig } from "./config.js";
import { createDb } from "../../platform/db.js";
import type { Logger } from "../../platform/log.js";
import { createMailWorker } from "./mail-worker.js";
import { createSmtpSender } from "./smtp-sender.js";

/** A polling mail worker with its own small pool and SMTP connection, as both entry points run it. */
export function runMailWorker(config: MailWorkerConfig, log: Logger): { stop(): Promise<void> } {
  const db = createDb({ writeUrl: config.databaseUrl, max: config.concurrency + 1, onError: (error) => log.warn({ err: error }, "database connection lost") });
  const sender = createSmtpSender(config.smtpUrl, config.from);
  const worker = createMailWorker({ primary: db.write, sender, log, ...config });
  worker.start();
  log.info("mail worker started");
  return {
    async stop() {
      const finished = await worker.stop();
      sender.close();
      // Closing the pool would wait for the send still holding a connection; exiting drops it, and Postgres rolls back.
      if (finished) await db.close();
    },
  };
}
