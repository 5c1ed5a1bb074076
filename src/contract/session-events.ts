/** The channel the auth service publishes on and every authz instance subscribes to. */
export const REVOCATION_CHANNEL = "auth:revocations";

export const SESSION_REVOKED = "session.revoked";
/** The session lives on, but what a gateway cached about it (its level) is stale. */
export const SESSION_CHANGED = "session.changed";

/** One message on REVOCATION_CHANNEL, as JSON. */
export interface SessionEvent {
  type: typeof SESSION_REVOKED | typeof SESSION_CHANGED;
  sessionId: string;
  userId: string;
}

/** The event a message carries, or undefined for anything else. */
export function parseSessionEvent(message: string): SessionEvent | undefined {
  try {
    const event = JSON.parse(message) as Partial<SessionEvent> | null;
    const type = event?.type;
    if ((type === SESSION_REVOKED || type === SESSION_CHANGED) && typeof event?.sessionId === "string" && typeof event.userId === "string") {
      return { type, sessionId: event.sessionId, userId: event.userId };
    }
  } catch {
    // Not JSON: the caller reports it with the other unusable messages.
  }
  return undefined;
}
