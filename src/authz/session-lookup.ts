import type { RedisClient } from "../platform/redis.js";
import { levelOf, type AuthLevel } from "../contract/auth-level.js";
import { decodeRevokedBefore, decodeSession, READ_FIELDS, revokedBeforeKey, revokedByMarker, sessionKey } from "../contract/session-record.js";
import { SESSION_ID_FORMAT } from "../contract/session-secret.js";
import type { TtlCache } from "../platform/ttl-cache.js";

export interface SessionState {
  userId: string;
  /** Absolute end of the session, ms since the epoch. */
  expiresAt: number;
  userAgent: string;
  /** The device fingerprint the auth service recorded at sign-in when DEVICE_BINDING was on. */
  fingerprint: string | undefined;
  level: AuthLevel;
  /** SHA-256 of the browser cookie the hosted sign-in page issued for this session, if any. */
  cookieHash: string | undefined;
}

export interface SessionLookup {
  /** The live session, or null when it is gone (revoked, idle-expired, or under its user's cutoff). Throws SessionStoreUnavailable. */
  get(sessionId: string): Promise<SessionState | null>;
}

export class SessionStoreUnavailable extends Error {
  constructor(cause: unknown) {
    super("session store unavailable", { cause });
    this.name = "SessionStoreUnavailable";
  }
}

export interface SessionLookupDeps {
  /** A client whose commands fail after a bounded time and never queue while disconnected (see createRedis). */
  redis: Pick<RedisClient, "hmget" | "get">;
  cache: TtlCache<SessionState | null>;
  /** False while revocation events may be missed (subscriber down): then every lookup reads Redis. */
  cacheTrusted(): boolean;
}

/** Reads the session record of src/contract/session-record.ts; read-only, so a Check never slides the idle expiry. */
export function createSessionLookup(deps: SessionLookupDeps): SessionLookup {
  return {
    async get(sessionId) {
      if (!SESSION_ID_FORMAT.test(sessionId)) return null;
      const trusted = deps.cacheTrusted();
      if (trusted) {
        const cached = deps.cache.get(sessionId);
        if (cached) return cached.value;
      }
      const mark = deps.cache.mark();
      let stored: ReturnType<typeof decodeSession>;
      let revoked = false;
      try {
        stored = decodeSession(await deps.redis.hmget(sessionKey(sessionId), ...READ_FIELDS));
        // A second single-key read, not one script over both keys: they live in different cluster slots (session-record.ts).
        if (stored) revoked = revokedByMarker(decodeRevokedBefore(await deps.redis.get(revokedBeforeKey(stored.userId))), sessionId, stored.createdAtMs);
      } catch (error) {
        throw new SessionStoreUnavailable(error);
      }
      const state = stored && !revoked
        ? {
            userId: stored.userId,
            expiresAt: stored.expiresAtMs,
            userAgent: stored.userAgent,
            fingerprint: stored.fingerprint,
            level: levelOf(stored.acr, stored.emailVerified),
            cookieHash: stored.cookieHash,
          }
        : null;
      // Session ids are never reused, so "gone" is as cacheable as "live".
      if (trusted) deps.cache.set(sessionId, state, mark);
      return state;
    },
  };
}
