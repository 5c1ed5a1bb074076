import type pg from "pg";
import type { Clock } from "../../platform/clock.js";
import type { Logger } from "../../platform/log.js";
import { outlivingCall } from "../../platform/request-deadline.js";
import type { Queryable } from "../../platform/transaction.js";
import type { SessionStore } from "./session-store.js";

/** "End every session of this user created before `beforeMs`, but `keepSessionId`", as committed in Postgres. */
export interface SessionRevocation {
  id: string;
  userId: string;
  beforeMs: number;
  keepSessionId: string | undefined;
}

/**
 * Revocations that must survive any failure between Postgres and Redis: recorded in the
 * transaction that changes the credential, applied after the commit, and re-applied by a sweep
 * until Redis has taken them. Applying is idempotent, so two instances sweeping the same row is harmless.
 */
export interface SessionRevocations {
  /** Records the revocation in the caller's transaction; it is in force once that commits and Redis has it. */
  record(tx: Queryable, userId: string, keepSessionId?: string): Promise<SessionRevocation>;
  /**
   * Applies it right after the commit, with the cutoff moved up to now: a sign-in that read the old
   * password (from the user cache, until the caller dropped it) began before now, and its session is
   * dated by that (NewSession.provenAt). Forgets it; how many sessions it ended, or undefined if Redis
   * failed (the cutoff moved up is written to the row, and the sweep retries with it, so it never ends
   * a session signed in since).
   */
  apply(revocation: SessionRevocation): Promise<number | undefined>;
  /** Applies every revocation still recorded; returns how many it applied. */
  sweep(): Promise<number>;
}

/**
 * After a write that ended an account's sessions has committed: the cached row goes first (`dropCache`),
 * then the revocation is applied with its cutoff at now, so a sign-in that read the old row from the
 * cache ends too. The revocation is applied whatever the cache did (whoever held the old credential
 * holds no session after this); a cache that could not be dropped before is dropped after, or the
 * caller hears of it. Returns how many sessions ended, or undefined if Redis failed (the sweep retries).
 */
export async function cacheDroppedThenRevoked(
  revocations: Pick<SessionRevocations, "apply">,
  dropCache: () => Promise<unknown>,
  revocation: SessionRevocation,
): Promise<number | undefined> {
  const dropped = await dropCache().then(
    () => true,
    () => false,
  );
  const revokedSessions = await revocations.apply(revocation);
  if (!dropped) await dropCache();
  return revokedSessions;
}

export interface SessionRevocationsDeps {
  primary: pg.Pool;
  sessions: Pick<SessionStore, "revokeCreatedBefore">;
  clock: Clock;
  log: Logger;
}

interface Row {
  id: string;
  user_id: string;
  revoke_before_ms: string;
  keep_session_id: string | null;
}

const toRevocation = (row: Row): SessionRevocation => ({
  id: row.id,
  userId: row.user_id,
  beforeMs: Number(row.revoke_before_ms),
  keepSessionId: row.keep_session_id ?? undefined,
});

// Oldest first, so a backlog lands in the order the changes were made (a newer cutoff is kept either way).
const SWEEP_BATCH = 100;

export function createSessionRevocations(deps: SessionRevocationsDeps): SessionRevocations {
  const { primary, sessions, clock, log } = deps;

  async function applyOrThrow(revocation: SessionRevocation, beforeMs = revocation.beforeMs): Promise<number> {
    const ended = await sessions.revokeCreatedBefore(revocation.userId, beforeMs, revocation.keepSessionId);
    await primary.query("DELETE FROM session_revocations WHERE id = $1", [revocation.id]);
    return ended;
  }

  return {
    async record(tx, userId, keepSessionId) {
      const beforeMs = clock.now();
      const result = await tx.query<{ id: string }>(
        "INSERT INTO session_revocations (user_id, revoke_before_ms, keep_session_id) VALUES ($1, $2, $3) RETURNING id",
        [userId, beforeMs, keepSessionId ?? null],
      );
      return { id: result.rows[0]!.id, userId, beforeMs, keepSessionId };
    },

    // The change it ends sessions for has committed: it is applied whether or not the caller still waits.
    apply: (revocation) => outlivingCall(async () => {
      const beforeMs = Math.max(revocation.beforeMs, clock.now());
      try {
        return await applyOrThrow(revocation, beforeMs);
      } catch (error) {
        log.warn({ err: error instanceof Error ? error.message : String(error), userId: revocation.userId }, "session revocation committed but not yet applied; the sweep retries it");
        // The sweep applies the row as it stands: with this cutoff, not the one recorded before the
        // user cache was dropped, so a sign-in that read the old password from it ends there too.
        await primary
          .query("UPDATE session_revocations SET revoke_before_ms = GREATEST(revoke_before_ms, $2) WHERE id = $1", [revocation.id, beforeMs])
          .catch((failed: unknown) => log.warn({ err: failed instanceof Error ? failed.message : String(failed), userId: revocation.userId }, "could not move the pending revocation's cutoff up"));
        return undefined;
      }
    }),

    async sweep() {
      const pending = await primary.query<Row>(
        "SELECT id, user_id, revoke_before_ms, keep_session_id FROM session_revocations ORDER BY id LIMIT $1",
        [SWEEP_BATCH],
      );
      let applied = 0;
      for (const row of pending.rows) {
        await applyOrThrow(toRevocation(row));
        applied += 1;
      }
      return applied;
    },
  };
}

export interface RevocationSweeper {
  close(): Promise<void>;
}

// A sweep still unsettled after this is given up on, so the next one runs: one Redis call that never
// settles (ioredis has had such, redis/ioredis#1511: a script before the connection is ready) would
// otherwise end every sweep after it, and with them the revocations Redis missed. A sweep that does
// settle later does no harm (applying a revocation twice is as once). It also bounds a stop's wait.
const SWEEP_STALL_MS = 10_000;

/** Sweeps once at start (what a crashed instance left) and then every `intervalMs`, one sweep at a time. */
export function startRevocationSweeper(deps: { revocations: SessionRevocations; intervalMs: number; log: Logger; stallMs?: number }): RevocationSweeper {
  const stallMs = deps.stallMs ?? SWEEP_STALL_MS;
  let running: Promise<void> | undefined;
  let closed = false;
  const sweep = () => {
    if (running || closed) return;
    let stalled: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<never>((_, reject) => {
      stalled = setTimeout(() => reject(new Error(`no answer within ${stallMs} ms`)), stallMs);
      stalled.unref();
    });
    running = Promise.race([deps.revocations.sweep(), gaveUp])
      .then(
        (applied) => {
          if (applied > 0) deps.log.info({ applied }, "applied pending session revocations");
        },
        (error: unknown) => deps.log.warn({ err: error instanceof Error ? error.message : String(error) }, "session revocation sweep failed; will retry"),
      )
      .finally(() => {
        clearTimeout(stalled);
        running = undefined;
      });
  };
  sweep();
  const timer = setInterval(sweep, deps.intervalMs);
  timer.unref();
  return {
    async close() {
      closed = true;
      clearInterval(timer);
      await running;
    },
  };
}
