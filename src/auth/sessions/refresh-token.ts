import { createHash, randomBytes } from "node:crypto";

// The token names its session so no lookup index is needed; the secret part is 256 random bits.
const FORMAT = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export const newSessionId = () => randomBytes(16).toString("base64url");

export function newRefreshToken(sessionId: string): { token: string; hash: string } {
  const token = `${sessionId}.${randomBytes(32).toString("base64url")}`;
  return { token, hash: hashRefreshToken(token) };
}

/** A fast hash is enough: the input is 256 random bits, not a guessable password. */
export function hashRefreshToken(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}

export function parseRefreshToken(token: string): { sessionId: string } | undefined {
  const match = FORMAT.exec(token);
  return match?.[1] ? { sessionId: match[1] } : undefined;
}

export const SESSION_ID_FORMAT = /^[A-Za-z0-9_-]{22}$/;

// A browser's session cookie is its own secret, not the session id: the id travels to
// upstream services (x-session-id, the JWT's sid) and must not be enough to act as the browser.
const COOKIE_FORMAT = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export function newSessionCookie(sessionId: string): { value: string; hash: string } {
  const value = `${sessionId}.${randomBytes(32).toString("base64url")}`;
  return { value, hash: hashRefreshToken(value) };
}

export function parseSessionCookie(value: string): { sessionId: string; hash: string } | undefined {
  const match = COOKIE_FORMAT.exec(value);
  return match?.[1] ? { sessionId: match[1], hash: hashRefreshToken(value) } : undefined;
}
