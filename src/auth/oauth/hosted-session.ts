import type { IncomingMessage } from "node:http";
import { cookieValue } from "../../contract/credentials.js";
import { parseSessionSecret } from "../../contract/session-secret.js";
import type { SessionRecord, SessionStore } from "../sessions/session-store.js";

/** The live session the hosted sign-in page's cookie names, if its secret matches. */
export async function hostedSessionOf(sessions: SessionStore, cookieName: string, req: IncomingMessage): Promise<SessionRecord | undefined> {
  const parsed = parseSessionSecret(cookieValue(req.headers.cookie, cookieName) ?? "");
  return parsed ? sessions.findByCookie(parsed.sessionId, parsed.hash) : undefined;
}
