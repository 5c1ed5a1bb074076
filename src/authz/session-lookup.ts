import type { RedisClient } from "../platform/redis.js";
import { levelOf, type AuthLevel } from "../contract/auth-level.js";
import { decodeRevokedBefore, decodeSession, decodeUserRoles, READ_FIELDS, revokedBeforeKey, revokedByMarker, sessionKey, userRolesKey } from "../contract/session-record.js";
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
  /** The user's roles now (user:{<id>}:roles), not as of sign-in: a grant or removal holds at the next Check. */
  roles?: readonly string[];
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
      let roles: readonly string[] = [];
      try {
        stored = decodeSession(await deps.redis.hmget(sessionKey(sessionId), ...READ_FIELDS));
        // Single-key reads, not one script over the keys: they live in different cluster slots (session-record.ts).
        // Sent together, so the roles cost no extra round trip.
        if (stored) {
          const [marker, userRoles] = await Promise.all([deps.redis.get(revokedBeforeKey(stored.userId)), deps.redis.get(userRolesKey(stored.userId))]);
          revoked = revokedByMarker(decodeRevokedBefore(marker), sessionId, stored.createdAtMs);
          roles = decodeUserRoles(userRoles)?.roles ?? [];
        }
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
            roles,
          }
        : null;
      // Session ids are never reused, so "gone" is as cacheable as "live".
      if (trusted) deps.cache.set(sessionId, state, mark);
      return state;
    },
  };
}
