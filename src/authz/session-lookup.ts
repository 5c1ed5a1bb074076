import type { Redis } from "ioredis";
import { SESSION_ID_FORMAT } from "../auth/sessions/refresh-token.js";
import { levelOf, type AuthLevel } from "./auth-level.js";
import type { TtlCache } from "./ttl-cache.js";

export interface SessionState {
  userId: string;
  /** Absolute end of the session, ms since the epoch. */
  expiresAt: number;
  userAgent: string;
  /** A device fingerprint the auth service recorded at sign-in, if it records one. */
  fingerprint: string | undefined;
  level: AuthLevel;
  /** SHA-256 of the browser cookie the hosted sign-in page issued for this session, if any. */
  cookieHash: string | undefined;
}

export interface SessionLookup {
  /** The live session, or null when it is gone (revoked or idle-expired). Throws SessionStoreUnavailable. */
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
  redis: Pick<Redis, "hmget">;
  cache: TtlCache<SessionState | null>;
  /** False while revocation events may be missed (subscriber down): then every lookup reads Redis. */
  cacheTrusted(): boolean;
}

// The layout of src/auth/sessions/redis-session-store.ts; read-only here, so a Check never slides the idle expiry.
const sessionKey = (id: string) => `session:{${id}}`;
const FIELDS = ["uid", "exp", "ua", "fp", "acr", "ev", "ck"] as const;

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
      let values: (string | null)[];
      try {
        values = await deps.redis.hmget(sessionKey(sessionId), ...FIELDS);
      } catch (error) {
        throw new SessionStoreUnavailable(error);
      }
      const [uid, exp, ua, fp, acr, ev, ck] = values;
      const state =
        uid && exp
          ? { userId: uid, expiresAt: Number(exp), userAgent: ua ?? "", fingerprint: fp ?? undefined, level: levelOf(acr, ev === "1"), cookieHash: ck ?? undefined }
          : null;
      // Session ids are never reused, so "gone" is as cacheable as "live".
      if (trusted) deps.cache.set(sessionId, state, mark);
      return state;
    },
  };
}
