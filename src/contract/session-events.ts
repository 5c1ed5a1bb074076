/** The channel the auth service publishes on and every authz instance subscribes to. */
export const REVOCATION_CHANNEL = "auth:revocations";

export const SESSION_REVOKED = "session.revoked";
/** The session lives on, but what a gateway cached about it (its level) is stale. */
export const SESSION_CHANGED = "session.changed";
/** Every session of the user created before `beforeMs` is revoked (user:{<id>}:revoked_before), whichever ids they have. */
export const USER_SESSIONS_REVOKED = "user.sessions_revoked";
/** What a gateway cached about every session of the user (their roles, user:{<id>}:roles) is stale. */
export const USER_CHANGED = "user.changed";

/**
 * When the event was published, ms since the epoch by Redis's clock (TIME inside the script that
 * publishes it): every publisher stamps by the same clock, and a gateway measures how long the
 * event took to reach it (authz_revocation_propagation_seconds). Absent from older publishers.
 */
interface Stamped {
  atMs?: number;
}

/** One message on REVOCATION_CHANNEL, as JSON. */
export type SessionEvent =
  | ({ type: typeof SESSION_REVOKED | typeof SESSION_CHANGED; sessionId: string; userId: string } & Stamped)
  | ({ type: typeof USER_SESSIONS_REVOKED; userId: string; beforeMs: number } & Stamped)
  | ({ type: typeof USER_CHANGED; userId: string } & Stamped);

/** A Lua expression for the publishing script's atMs: Redis's clock, in ms. */
export const LUA_NOW_MS = "(function() local t = redis.call('TIME') return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end)()";

/** The event a message carries, or undefined for anything else. */
export function parseSessionEvent(message: string): SessionEvent | undefined {
  try {
    const event = JSON.parse(message) as Record<string, unknown> | null;
    const type = event?.type;
    if (typeof event?.userId !== "string") return undefined;
    const stamp = typeof event.atMs === "number" && Number.isFinite(event.atMs) ? { atMs: event.atMs } : {};
    if ((type === SESSION_REVOKED || type === SESSION_CHANGED) && typeof event.sessionId === "string") {
      return { type, sessionId: event.sessionId, userId: event.userId, ...stamp };
    }
    if (type === USER_SESSIONS_REVOKED && typeof event.beforeMs === "number") return { type, userId: event.userId, beforeMs: event.beforeMs, ...stamp };
    if (type === USER_CHANGED) return { type, userId: event.userId, ...stamp };
  } catch {
    // Not JSON: the caller reports it with the other unusable messages.
  }
  return undefined;
}
