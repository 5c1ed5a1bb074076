import { SESSION_CHANGED, SESSION_REVOKED, USER_SESSIONS_REVOKED, type SessionEvent } from "../../contract/session-events.js";
import { MAX_USER_AGENT_LENGTH, revokedByMarker, type RevokedBefore } from "../../contract/session-record.js";
import { newSessionId, newSessionSecret, parseSessionSecret, SESSION_ID_FORMAT } from "../../contract/session-secret.js";
import type { Clock } from "../../platform/clock.js";
import type { RedisSessionStoreDeps } from "./redis-session-store.js";
import type { SessionRecord, SessionStore } from "./session-store.js";

export interface MemorySessionStoreDeps extends Omit<RedisSessionStoreDeps, "redis" | "durable"> {
  clock: Clock;
  /** Told of every event the Redis store would publish to the gateways. */
  onEvent?: (event: SessionEvent) => void;
}

interface Entry {
  record: SessionRecord;
  refreshHash: string;
  cookieHash: string | undefined;
  /** Retired refresh-token hash -> when it was rotated. */
  rotated: Map<string, number>;
  /** When the idle timeout ends it, as Redis's PEXPIRE would. */
  idleEndsAt: number;
}

/**
 * The session store in process memory, with the Redis store's semantics (the same contract suite
 * runs against both): for unit tests of service logic, and a single-process deployment never.
 */
export function createMemorySessionStore(deps: MemorySessionStoreDeps): SessionStore {
  const { clock } = deps;
  const sessions = new Map<string, Entry>();
  /** user:{<id>}:revoked_before, with the time it expires as its PX would. */
  const cutoffs = new Map<string, RevokedBefore & { until: number }>();
  // Stamped by the wall clock, not `clock`: the Redis store's events carry Redis's own TIME.
  const emit = (type: typeof SESSION_REVOKED | typeof SESSION_CHANGED, sessionId: string, userId: string) => deps.onEvent?.({ type, sessionId, userId, atMs: Date.now() });

  function cutoffOf(userId: string): RevokedBefore | undefined {
    const cutoff = cutoffs.get(userId);
    return cutoff && cutoff.until > clock.now() ? cutoff : undefined;
  }

  /** The entry while it lives; an entry past its idle or absolute end, or under its user's cutoff, is gone, as in Redis. */
  function live(id: string): Entry | undefined {
    const entry = sessions.get(id);
    if (!entry) return undefined;
    const now = clock.now();
    const { userId, createdAt } = entry.record;
    if (entry.idleEndsAt <= now || entry.record.expiresAt.getTime() <= now || revokedByMarker(cutoffOf(userId), id, createdAt.getTime())) {
      sessions.delete(id);
      return undefined;
    }
    return entry;
  }

  const slide = (entry: Entry, now: number) => {
    entry.idleEndsAt = Math.min(now + deps.idleTtlMs, entry.record.expiresAt.getTime());
  };

  function revoke(sessionId: string, userId: string): boolean {
    const entry = live(sessionId);
    if (!entry || entry.record.userId !== userId) return false;
    sessions.delete(sessionId);
    emit(SESSION_REVOKED, sessionId, userId);
    return true;
  }

  const ofUser = (userId: string) => [...sessions.keys()].map(live).filter((e): e is Entry => e?.record.userId === userId);

  return {
    async create({ userId, userAgent, ip, secondFactor, emailVerified, provenAt }) {
      const now = clock.now();
      const id = newSessionId();
      const refresh = newSessionSecret(id);
      const record: SessionRecord = {
        id,
        userId,
        createdAt: new Date(provenAt),
        lastSeenAt: new Date(now),
        expiresAt: new Date(provenAt + deps.absoluteTtlMs),
        userAgent: userAgent.slice(0, MAX_USER_AGENT_LENGTH),
        ip,
        acr: secondFactor ? "mfa" : "basic",
        emailVerified,
        authTime: new Date(provenAt),
      };
      const entry: Entry = { record, refreshHash: refresh.hash, cookieHash: undefined, rotated: new Map(), idleEndsAt: 0 };
      slide(entry, now);
      sessions.set(id, entry);
      return { session: { ...record }, refreshToken: refresh.value, refreshExpiresAt: new Date(entry.idleEndsAt) };
    },

    async rotate(refreshToken) {
      const parsed = parseSessionSecret(refreshToken);
      const entry = parsed && live(parsed.sessionId);
      if (!parsed || !entry) return { outcome: "invalid" };
      const now = clock.now();
      if (entry.refreshHash === parsed.hash) {
        const next = newSessionSecret(parsed.sessionId);
        entry.rotated.set(entry.refreshHash, now);
        entry.refreshHash = next.hash;
        entry.record.lastSeenAt = new Date(now);
        slide(entry, now);
        return { outcome: "ok", session: { ...entry.record }, refreshToken: next.value, refreshExpiresAt: new Date(entry.idleEndsAt) };
      }
      const rotatedAt = entry.rotated.get(parsed.hash);
      if (rotatedAt === undefined) return { outcome: "invalid" };
      if (now - rotatedAt <= deps.reuseGraceMs) return { outcome: "raced" };
      return { outcome: "reused", sessionId: parsed.sessionId, userId: entry.record.userId };
    },

    async touch(sessionId, userId) {
      const entry = SESSION_ID_FORMAT.test(sessionId) ? live(sessionId) : undefined;
      if (!entry || entry.record.userId !== userId) return undefined;
      const now = clock.now();
      entry.record.lastSeenAt = new Date(now);
      slide(entry, now);
      return { ...entry.record };
    },

    async listForUser(userId) {
      return ofUser(userId)
        .map((e) => ({ ...e.record }))
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    },

    async attachCookie(sessionId, userId) {
      const entry = SESSION_ID_FORMAT.test(sessionId) ? live(sessionId) : undefined;
      if (!entry || entry.record.userId !== userId) return undefined;
      const cookie = newSessionSecret(sessionId);
      entry.cookieHash = cookie.hash;
      return cookie.value;
    },

    async findByCookie(sessionId, cookieHash) {
      const entry = SESSION_ID_FORMAT.test(sessionId) ? live(sessionId) : undefined;
      return entry && entry.cookieHash === cookieHash ? { ...entry.record } : undefined;
    },

    revoke: async (sessionId, userId) => SESSION_ID_FORMAT.test(sessionId) && revoke(sessionId, userId),

    async revokeAllForUser(userId, keep) {
      return ofUser(userId).filter((e) => e.record.id !== keep && revoke(e.record.id, userId)).length;
    },

    async markReauthenticated(sessionId, userId) {
      const entry = SESSION_ID_FORMAT.test(sessionId) ? live(sessionId) : undefined;
      if (!entry || entry.record.userId !== userId) return false;
      entry.record.authTime = new Date(clock.now());
      return true;
    },

    async revokeCreatedBefore(userId, beforeMs, keep) {
      const doomed = ofUser(userId).filter((e) => e.record.id !== keep && e.record.createdAt.getTime() < beforeMs);
      const current = cutoffOf(userId);
      if (!current || current.beforeMs < beforeMs) cutoffs.set(userId, { beforeMs, keepSessionId: keep, until: clock.now() + deps.absoluteTtlMs });
      deps.onEvent?.({ type: USER_SESSIONS_REVOKED, userId, beforeMs, atMs: Date.now() });
      for (const entry of doomed) {
        sessions.delete(entry.record.id);
        emit(SESSION_REVOKED, entry.record.id, userId);
      }
      return doomed.length;
    },

    async markEmailVerified(userId) {
      for (const entry of ofUser(userId)) {
        entry.record.emailVerified = true;
        emit(SESSION_CHANGED, entry.record.id, userId);
      }
    },
  };
}
