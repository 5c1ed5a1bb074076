import type pg from "pg";
import type { Logger } from "../../platform/log.js";
import { withTransaction } from "../../platform/transaction.js";
import type { MailSender } from "./smtp-sender.js";

export interface MailWorker {
  /** Tries every message due now once; resolves with how many were attempted. */
  drain(): Promise<number>;
  /** Drains now and then every poll interval, until `stop`. */
  start(): void;
  /**
   * Claims no further message and waits up to `shutdownGraceMs` for the one being sent: it is then
   * marked sent (or due again) and committed. False if it was still sending at the deadline: its
   * transaction is still open, and rolls back when the process exits, which releases the message
   * for the next worker unsent-as-far-as-the-outbox-knows.
   */
  stop(): Promise<boolean>;
}

export interface MailWorkerDeps {
  primary: pg.Pool;
  sender: MailSender;
  log: Logger;
  maxAttempts: number;
  /** The wait after the first failure; it doubles with each further one. */
  retryBaseMs: number;
  pollIntervalMs: number;
  /** MAIL_CONCURRENCY: messages sent at once, each in its own transaction and connection. */
  concurrency: number;
  /** How long `stop` waits for a message being sent. */
  shutdownGraceMs: number;
}

interface OutboxRow {
  id: string;
  recipient: string;
  subject: string;
  body: string;
  attempts: number;
}

// SKIP LOCKED: each worker takes a row no other worker holds, so any number of them never send one message twice.
// Links before notices (mail.ts MailPriority): a backlog of notices never delays a reset or verification link.
const CLAIM = `SELECT id, recipient, subject, body, attempts FROM mail_outbox
  WHERE status = 'pending' AND next_attempt_at <= now() AND id <> ALL($1::bigint[])
  ORDER BY priority, next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`;

export function createMailWorker(deps: MailWorkerDeps): MailWorker {
  const { primary, sender, log } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = true;
  // Set by stop(): a pass in progress finishes its current message and claims no other.
  let stopping = false;

  /** Sends one due message inside the transaction that locks its row; undefined when none is due. */
  async function sendOne(skip: string[]): Promise<string | undefined> {
    return withTransaction(primary, async (tx) => {
      const row = (await tx.query<OutboxRow>(CLAIM, [skip])).rows[0];
      if (!row) return undefined;
      const attempts = row.attempts + 1;
      try {
        await sender.send({ to: row.recipient, subject: row.subject, text: row.body });
        await tx.query("UPDATE mail_outbox SET status = 'sent', attempts = $2, sent_at = now(), last_error = NULL WHERE id = $1", [
          row.id,
          attempts,
        ]);
        log.info({ mailId: row.id, attempts }, "mail sent");
      } catch (error) {
        const reason = (error instanceof Error ? error.message : String(error)).slice(0, 1000);
        if (attempts >= deps.maxAttempts) {
          await tx.query("UPDATE mail_outbox SET status = 'failed', attempts = $2, last_error = $3 WHERE id = $1", [row.id, attempts, reason]);
          log.error({ mailId: row.id, attempts, reason }, "mail failed for good; left in the outbox as failed");
        } else {
          const delayMs = deps.retryBaseMs * 2 ** (attempts - 1);
          await tx.query(
            "UPDATE mail_outbox SET attempts = $2, last_error = $3, next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1",
            [row.id, attempts, reason, delayMs / 1000],
          );
          log.warn({ mailId: row.id, attempts, reason, retryInMs: delayMs }, "mail send failed; will retry");
        }
      }
      return row.id;
    });
  }

  async function drain(): Promise<number> {
    // A message retried within this pass would turn a short backoff into a tight loop.
    const attempted: string[] = [];
    // `concurrency` lanes, each claiming the next due row: one slow SMTP answer does not hold up the rest.
    // A stopping worker claims nothing more: what a lane is sending finishes, nothing new starts.
    const lane = async () => {
      for (let id = await sendOne(attempted); id !== undefined; id = stopping ? undefined : await sendOne(attempted)) attempted.push(id);
    };
    await Promise.all(Array.from({ length: deps.concurrency }, lane));
    return attempted.length;
  }

  function schedule(delayMs: number): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = drain()
        .catch((error: unknown) => log.error({ err: error }, "mail worker pass failed; retrying next poll"))
        .finally(() => schedule(deps.pollIntervalMs));
    }, delayMs);
  }

  return {
    drain,
    start() {
      if (!stopped) return;
      stopped = false;
      stopping = false;
      schedule(0);
    },
    async stop() {
      stopped = true;
      stopping = true;
      clearTimeout(timer);
      let grace: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        running.then(() => true),
        new Promise<false>((resolve) => (grace = setTimeout(() => resolve(false), deps.shutdownGraceMs))),
      ]);
      clearTimeout(grace);
      if (!finished) log.warn("a message was still being sent at the end of the grace; its row is released when this process exits");
      return finished;
    },
  };
}
