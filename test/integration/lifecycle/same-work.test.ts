import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgAccountWrites } from "../../../src/auth/lifecycle/pg-account-writes.js";
import { createMailTemplates } from "../../../src/auth/mail/templates.js";
import { createLogger } from "../../../src/platform/log.js";
import { migrate } from "../../../src/platform/migrate.js";
import { createScratchDatabase } from "../../support/data-tier.js";

/**
 * No enumeration by timing (README, Security model): the database work behind an answer is what
 * a stopwatch measures, so both paths must send the same statements, in the same number of round
 * trips. Counted on a real pool, not timed.
 */
describe("account writes do the same database work whether or not the account exists", () => {
  let db: Awaited<ReturnType<typeof createScratchDatabase>>;
  let pool: pg.Pool;
  const trips: string[] = [];

  /** The real pool, recording the text of every statement sent through it or a client it lent. */
  function counted(inner: pg.Pool): pg.Pool {
    const record = (text: unknown) => trips.push(typeof text === "string" ? text.trim().split(/\s+/)[0]!.toUpperCase() : "?");
    return new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === "query") return (text: unknown, ...rest: unknown[]) => (record(text), (target.query as (...a: unknown[]) => unknown)(text, ...rest));
        if (prop === "connect")
          return async () => {
            const client = await target.connect();
            return new Proxy(client, {
              get(c, p, r) {
                if (p === "query") return (text: unknown, ...rest: unknown[]) => (record(text), (c.query as (...a: unknown[]) => unknown).call(c, text, ...rest));
                const value = Reflect.get(c, p, r);
                return typeof value === "function" ? value.bind(c) : value;
              },
            });
          };
        const value = Reflect.get(target, prop, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }

  const by = { ip: "192.0.2.1", userAgent: "Test/1.0", requestId: "same-work" };
  const workOf = async (call: () => Promise<unknown>) => {
    trips.length = 0;
    await call();
    return [...trips];
  };

  beforeAll(async () => {
    db = await createScratchDatabase();
    await migrate(db.url, createLogger("silent"));
    pool = new pg.Pool({ connectionString: db.url });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  const writes = () =>
    createPgAccountWrites({
      primary: counted(pool),
      templates: createMailTemplates({ publicBaseUrl: "https://id.example.com" }),
      verifyEmailTokenTtlMs: 86_400_000,
      resetTokenTtlMs: 1_800_000,
      changeEmailTokenTtlMs: 3_600_000,
      userWritten: async () => {},
      // Password changes and resets are not what these cases count.
      revocations: { record: () => Promise.reject(new Error("not used on these paths")), apply: () => Promise.reject(new Error("not used on these paths")) },
    });

  it("register: a taken email sends the same statements as a new one, and both queue one mail", async () => {
    const accounts = writes();
    const taken = `taken-${randomUUID()}@example.com`;
    await accounts.register(taken, "hash");
    const fresh = await workOf(() => accounts.register(`new-${randomUUID()}@example.com`, "hash"));
    const again = await workOf(() => accounts.register(taken, "hash"));
    expect(again).toEqual(fresh);
    const mails = await pool.query("SELECT subject FROM mail_outbox WHERE recipient = $1 ORDER BY id", [taken]);
    expect(mails.rows.map((r) => r.subject)).toEqual(["Confirm your email address", "Someone tried to sign up with your email address"]);
  });

  it("requestReset: an unknown email sends the same statements as a known one; only the known one gets mail", async () => {
    const accounts = writes();
    const known = `known-${randomUUID()}@example.com`;
    await accounts.register(known, "hash");
    const unknown = `unknown-${randomUUID()}@example.com`;
    const forKnown = await workOf(() => accounts.requestReset(known, by));
    const forUnknown = await workOf(() => accounts.requestReset(unknown, by));
    expect(forUnknown).toEqual(forKnown);
    expect((await pool.query("SELECT 1 FROM mail_outbox WHERE recipient = $1 AND subject = 'Reset your password'", [known])).rowCount).toBe(1);
    expect((await pool.query("SELECT 1 FROM mail_outbox WHERE recipient = $1", [unknown])).rowCount).toBe(0);
    // Both paths commit a write (the audit row), so neither skips the commit's WAL flush.
    const audited = await pool.query("SELECT details->>'known' AS known FROM audit_events WHERE type = 'password.reset_requested' AND request_id = 'same-work' ORDER BY id");
    expect(audited.rows.map((r) => r.known)).toEqual(["true", "false"]);
  });
});
