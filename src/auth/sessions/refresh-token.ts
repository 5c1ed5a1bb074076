import { createHash, randomBytes } from "node:crypto";

// Refresh tokens and browser cookies are both "<session id>.<256 random bits>": they name their
// session so no lookup index is needed, and only their hash is stored.
const SESSION_SECRET = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export const SESSION_ID_FORMAT = /^[A-Za-z0-9_-]{22}$/;

export const newSessionId = () => randomBytes(16).toString("base64url");

/** A fast hash is enough: the input is 256 random bits, not a guessable password. */
export function hashRefreshToken(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}

function newSessionSecret(sessionId: string): { value: string; hash: string } {
  const value = `${sessionId}.${randomBytes(32).toString("base64url")}`;
  return { value, hash: hashRefreshToken(value) };
}

export function newRefreshToken(sessionId: string): { token: string; hash: string } {
  const { value, hash } = newSessionSecret(sessionId);
  return { token: value, hash };
}

export function parseRefreshToken(token: string): { sessionId: string } | undefined {
  const match = SESSION_SECRET.exec(token);
  return match?.[1] ? { sessionId: match[1] } : undefined;
}

// A browser's session cookie is its own secret, not the session id: the id travels to
// upstream services (x-session-id, the JWT's sid) and must not be enough to act as the browser.
export const newSessionCookie = newSessionSecret;

export function parseSessionCookie(value: string): { sessionId: string; hash: string } | undefined {
  const parsed = parseRefreshToken(value);
  return parsed && { sessionId: parsed.sessionId, hash: hashRefreshToken(value) };
}
