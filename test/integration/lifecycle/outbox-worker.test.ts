import { createServer, type AddressInfo } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMailWorker } from "../../../src/auth/mail/mail-worker.js";
import { enqueueMail } from "../../../src/auth/mail/mail.js";
import { createSmtpSender } from "../../../src/auth/mail/smtp-sender.js";
import { createLogger } from "../../../src/platform/log.js";
import { migrate } from "../../../src/platform/migrate.js";
import { createScratchDatabase } from "../../support/data-tier.js";
import { startMailSink, type MailSink } from "../../../src/stack/mail-sink.js";

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("mail outbox worker", () => {
  const log = createLogger("silent");
  let db: Awaited<ReturnType<typeof createScratchDatabase>>;
  let primary: pg.Pool;
  let sink: MailSink;

  beforeAll(async () => {
    db = await createScratchDatabase();
    await migrate(db.url, log);
    primary = new pg.Pool({ connectionString: db.url, max: 6 });
    sink = await startMailSink();
  });
  afterAll(async () => {
    await sink?.close();
    await primary?.end();
    await db?.drop();
  });

  it("a message that keeps failing ends 'failed' with its last error, never dropped", async () => {
    await enqueueMail(primary, { to: "doomed@example.com", subject: "Doomed", text: "never arrives" });
    const sender = createSmtpSender(`smtp://127.0.0.1:${await closedPort()}`, "no-reply@example.com");
    const worker = createMailWorker({ primary, sender, log, maxAttempts: 3, retryBaseMs: 20, pollIntervalMs: 10, concurrency: 1, shutdownGraceMs: 10_000 });
    await worker.drain();
    const afterFirst = await primary.query(
      "SELECT status, attempts, last_error, next_attempt_at > created_at AS backed_off FROM mail_outbox WHERE recipient = 'doomed@example.com'",
    );
    expect(afterFirst.rows[0]).toMatchObject({ status: "pending", attempts: 1, backed_off: true });
    expect(afterFirst.rows[0].last_error).toMatch(/ECONNREFUSED/);

    worker.start();
    try {
      for (let i = 0; i < 200; i++) {
        const { rows } = await primary.query("SELECT status FROM mail_outbox WHERE recipient = 'doomed@example.com'");
        if (rows[0].status === "failed") break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      await worker.stop();
      sender.close();
    }
    const { rows } = await primary.query("SELECT status, attempts, last_error FROM mail_outbox WHERE recipient = 'doomed@example.com'");
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: "failed", attempts: 3 });
    expect(rows[0].last_error).toMatch(/ECONNREFUSED/);
  });

  it("stopping finishes the message being sent and claims no other; the rest stay pending for the next worker", async () => {
    for (let i = 0; i < 3; i++) await enqueueMail(primary, { to: `stop-${i}@example.com`, subject: `Stop ${i}`, text: "hello" });
    const smtp = createSmtpSender(sink.url, "no-reply@example.com");
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let sending!: () => void;
    const started = new Promise<void>((resolve) => (sending = resolve));
    // The real SMTP delivery, held at its start so that stop() arrives while a message is being sent.
    const sender = {
      async send(mail: Parameters<typeof smtp.send>[0]) {
        sending();
        await gate;
        await smtp.send(mail);
      },
      close: () => smtp.close(),
    };
    const worker = createMailWorker({ primary, sender, log, maxAttempts: 3, retryBaseMs: 1000, pollIntervalMs: 10, shutdownGraceMs: 10_000, concurrency: 1 });
    worker.start();
    await started;
    const stopping = worker.stop();
    release();
    expect(await stopping).toBe(true);
    const { rows } = await primary.query<{ status: string; attempts: number }>(
      "SELECT status, attempts FROM mail_outbox WHERE recipient LIKE 'stop-%' ORDER BY status DESC",
    );
    expect(rows).toEqual([{ status: "sent", attempts: 1 }, { status: "pending", attempts: 0 }, { status: "pending", attempts: 0 }]);
    expect(sink.messages.filter((m) => m.to.startsWith("stop-"))).toHaveLength(1);
    await createMailWorker({ primary, sender: smtp, log, maxAttempts: 3, retryBaseMs: 1000, pollIntervalMs: 10, shutdownGraceMs: 10_000, concurrency: 1 }).drain();
    const delivered = sink.messages.filter((m) => m.to.startsWith("stop-")).map((m) => m.to);
    expect(delivered.sort()).toEqual(["stop-0@example.com", "stop-1@example.com", "stop-2@example.com"]);
    sender.close();
  });

  it("two workers deliver each of many messages exactly once", async () => {
    const count = 40;
    for (let i = 0; i < count; i++) await enqueueMail(primary, { to: `bulk-${i}@example.com`, subject: `Bulk ${i}`, text: "hello" });
    const senders = [createSmtpSender(sink.url, "a@example.com"), createSmtpSender(sink.url, "b@example.com")];
    const workers = senders.map((sender) => createMailWorker({ primary, sender, log, maxAttempts: 3, retryBaseMs: 1000, pollIntervalMs: 1000, concurrency: 1, shutdownGraceMs: 10_000 }));
    const [a, b] = await Promise.all(workers.map((w) => w.drain()));
    senders.forEach((s) => s.close());
    expect((a ?? 0) + (b ?? 0)).toBeGreaterThanOrEqual(count);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
    const bulk = sink.messages.filter((m) => m.to.startsWith("bulk-"));
    expect(bulk).toHaveLength(count);
    expect(new Set(bulk.map((m) => m.to)).size).toBe(count);
    const { rows } = await primary.query("SELECT count(*)::int AS n FROM mail_outbox WHERE recipient LIKE 'bulk-%' AND status = 'sent' AND attempts = 1");
    expect(rows[0].n).toBe(count);
  });
  it("delivers links (verification, reset) before a backlog of notices queued earlier", async () => {
    for (let i = 0; i < 15; i++) await enqueueMail(primary, { to: `flooded-${i}@example.com`, subject: `Notice ${i}`, text: "notice", priority: "notice" });
    await enqueueMail(primary, { to: "owner@example.com", subject: "Reset your password", text: "link", priority: "link" });
    const sender = createSmtpSender(sink.url, "no-reply@example.com");
    const worker = createMailWorker({ primary, sender, log, maxAttempts: 3, retryBaseMs: 1000, pollIntervalMs: 1000, concurrency: 1, shutdownGraceMs: 10_000 });
    const before = sink.messages.length;
    await worker.drain();
    sender.close();
    const delivered = sink.messages.slice(before).map((m) => m.to);
    expect(delivered).toHaveLength(16);
    expect(delivered[0]).toBe("owner@example.com");
  });

  it("sends several messages at once, up to its concurrency", async () => {
    for (let i = 0; i < 12; i++) await enqueueMail(primary, { to: `parallel-${i}@example.com`, subject: `Parallel ${i}`, text: "hello" });
    const real = createSmtpSender(sink.url, "no-reply@example.com");
    let inFlight = 0;
    let most = 0;
    // The real sender, watched: how many sends overlap is the work the worker does in parallel.
    const sender = {
      async send(mail: Parameters<typeof real.send>[0]) {
        most = Math.max(most, ++inFlight);
        try {
          await real.send(mail);
        } finally {
          inFlight--;
        }
      },
      close: () => real.close(),
    };
    const worker = createMailWorker({ primary, sender, log, maxAttempts: 3, retryBaseMs: 1000, pollIntervalMs: 1000, concurrency: 4, shutdownGraceMs: 10_000 });
    expect(await worker.drain()).toBe(12);
    sender.close();
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(4);
    const { rows } = await primary.query("SELECT count(*)::int AS n FROM mail_outbox WHERE recipient LIKE 'parallel-%' AND status = 'sent' AND attempts = 1");
    expect(rows[0].n).toBe(12);
  });
});
