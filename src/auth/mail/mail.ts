import type { Queryable } from "../../platform/transaction.js";

/** A plain-text message to one recipient. */
export interface Mail {
  to: string;
  subject: string;
  text: string;
}

/**
 * Queues mail on the caller's connection: given a transaction, the mail is
 * committed with the change that caused it, or not at all.
 */
export async function enqueueMail(db: Queryable, mail: Mail): Promise<void> {
  await db.query("INSERT INTO mail_outbox (recipient, subject, body) VALUES ($1, $2, $3)", [mail.to, mail.subject, mail.text]);
}
