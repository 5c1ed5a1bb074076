import type pg from "pg";
import { Gauge, type Registry } from "prom-client";

// One pass over the rows not yet sent (both partial indexes cover them; sent rows are skipped).
const OUTBOX_SQL = `SELECT
  count(*) FILTER (WHERE status = 'pending')::float8 AS pending,
  count(*) FILTER (WHERE status = 'failed')::float8 AS failed,
  COALESCE(EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE status = 'pending')), 0)::float8 AS oldest
FROM mail_outbox WHERE status <> 'sent'`;

/**
 * The mail outbox as the database holds it, read at scrape time: messages waiting and failed,
 * and how long the oldest waiting one has waited. Every instance reports the same table, so
 * dashboards and alerts take max() over instances. A stuck outbox (no worker, SMTP down) shows
 * as a growing oldest age; the workers' retries (30 s doubling) keep a healthy one near zero.
 *
 *   auth_mail_outbox_messages{status="pending"|"failed"}, auth_mail_outbox_oldest_pending_seconds
 */
export function registerOutboxMetrics(registry: Registry, primary: pg.Pool): void {
  let last: Promise<{ pending: number; failed: number; oldest: number } | undefined> | undefined;
  // Both gauges are collected in one scrape: one query serves them.
  const read = () => (last ??= primary.query<{ pending: number; failed: number; oldest: number }>(OUTBOX_SQL).then((r) => r.rows[0], () => undefined).finally(() => setImmediate(() => (last = undefined))));
  new Gauge({
    name: "auth_mail_outbox_messages",
    help: "Mail outbox messages not sent, by status (pending: waiting or retrying; failed: gave up after MAIL_MAX_ATTEMPTS)",
    labelNames: ["status"] as const,
    registers: [registry],
    async collect() {
      const row = await read();
      if (!row) return this.reset();
      this.set({ status: "pending" }, row.pending);
      this.set({ status: "failed" }, row.failed);
    },
  });
  new Gauge({
    name: "auth_mail_outbox_oldest_pending_seconds",
    help: "Age of the oldest pending mail outbox message (0 when none waits)",
    registers: [registry],
    async collect() {
      const row = await read();
      if (!row) return this.reset();
      this.set(row.oldest);
    },
  });
}
