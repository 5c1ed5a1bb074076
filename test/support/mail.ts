import pg from "pg";
import type { AuthServerOptions } from "../../src/auth/app.js";
import { createMailWorker } from "../../src/auth/mail/mail-worker.js";
import { createSmtpSender } from "../../src/auth/mail/smtp-sender.js";
import { createLogger } from "../../src/platform/log.js";
import { migrate } from "../../src/platform/migrate.js";
import { startTestAuth, TRUST_LOOPBACK, type TestAuth } from "./auth.js";
import { createScratchDatabase } from "./data-tier.js";
import { startMailSink } from "../../src/stack/mail-sink.js";

/**
 * Mail delivery for a database of its own: an SMTP sink and a mail worker draining that
 * database's outbox into it. Whoever writes the outbox (an auth server) is the caller's.
 */
export async function startMailDelivery(databaseUrl: string) {
  const log = createLogger("silent");
  const sink = await startMailSink();
  const primary = new pg.Pool({ connectionString: databaseUrl });
  const sender = createSmtpSender(sink.url, "Auth <no-reply@example.com>");
  const worker = createMailWorker({ primary, sender, log, maxAttempts: 3, retryBaseMs: 50, pollIntervalMs: 50, concurrency: 2, shutdownGraceMs: 10_000 });
  worker.start();
  return {
    sink,
    primary,
    /** The token in the newest link of `path` mailed to `to`. */
    async tokenFrom(to: string, subject: RegExp) {
      const mail = await sink.waitFor(to, subject);
      sink.messages.splice(sink.messages.indexOf(mail), 1);
      const token = /#token=([A-Za-z0-9_-]{43})/.exec(mail.text)?.[1];
      if (!token) throw new Error(`no token in mail: ${mail.text}`);
      return { token, mail };
    },
    async close() {
      await worker.stop();
      sender.close();
      await sink.close();
      await primary.end();
    },
  };
}

/** A scratch database, migrated: for a stack whose mail worker must see only its own outbox. */
export async function createMailDatabase() {
  const db = await createScratchDatabase();
  await migrate(db.url, createLogger("silent"));
  return { ...db, env: { DATABASE_URL: db.url, DATABASE_PRIMARY_URL: db.url, DATABASE_REPLICA_URL: db.url } };
}

/**
 * An auth server, mail worker and SMTP sink on a database of their own: a
 * worker drains every due row, so sharing the outbox with other test files
 * would deliver their mail to this file's sink.
 */
export async function startMailStack(overrides: Record<string, string> = {}, options: Partial<AuthServerOptions> = {}) {
  const db = await createMailDatabase();
  const env = { ...db.env, ...TRUST_LOOPBACK };
  const auth = await startTestAuth({ ...env, ...overrides }, options);
  const peers: TestAuth[] = [];
  const delivery = await startMailDelivery(db.url);
  return {
    auth,
    sink: delivery.sink,
    primary: delivery.primary,
    /** Another auth server on this database (default config but for the database and proxy trust); closed with the stack. */
    async startPeer(peerOptions: Partial<AuthServerOptions> = {}) {
      const peer = await startTestAuth(env, { ...peerOptions, skipMigrations: true });
      peers.push(peer);
      return peer;
    },
    tokenFrom: delivery.tokenFrom,
    async close() {
      for (const peer of peers) await peer.close();
      await delivery.close();
      await auth.close();
      await db.drop();
    },
  };
}
