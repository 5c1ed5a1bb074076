import type { Queryable } from "../../platform/transaction.js";

/**
 * How soon a message must go: a `link` (verification, reset, email change) is what a person is
 * waiting for; a `notice` (something happened, or was tried) can wait behind it. A flood of notices
 * must not delay anyone's link.
 */
export type MailPriority = "link" | "notice";

/** The mail_outbox.priority of each: lower goes first. */
export const PRIORITY_RANK: Record<MailPriority, number> = { link: 0, notice: 1 };

/** A plain-text message to one recipient. */
export interface Mail {
  to: string;
  subject: string;
  text: string;
  /** Default notice. */
  priority?: MailPriority;
}

/**
 * Queues mail on the caller's connection: given a transaction, the mail is
 * committed with the change that caused it, or not at all.
 */
export async function enqueueMail(db: Queryable, mail: Mail): Promise<void> {
  await db.query("INSERT INTO mail_outbox (recipient, subject, body, priority) VALUES ($1, $2, $3, $4)", [
    mail.to,
    mail.subject,
    mail.text,
    PRIORITY_RANK[mail.priority ?? "notice"],
  ]);
}
