import { createHash, randomBytes } from "node:crypto";

/**
 * Refresh tokens and browser cookies are both "<session id>.<256 random bits>": they name their
 * session so no lookup index is needed, and only their hash is stored. The auth service mints
 * them; the authz server parses cookies and compares hashes.
 */
const SESSION_SECRET = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export const SESSION_ID_FORMAT = /^[A-Za-z0-9_-]{22}$/;

export const newSessionId = () => randomBytes(16).toString("base64url");

/** A fast hash is enough: the input is 256 random bits, not a guessable password. */
export function hashSessionSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("base64url");
}

/** A new secret for the session and the only form of it that is stored. */
export function newSessionSecret(sessionId: string): { value: string; hash: string } {
  const value = `${sessionId}.${randomBytes(32).toString("base64url")}`;
  return { value, hash: hashSessionSecret(value) };
}

/**
 * The session a refresh token or cookie names, and the hash to compare with the stored one;
 * undefined for anything not of the format. A browser's cookie is its own secret, not the
 * session id: the id travels to upstream services (x-session-id, the JWT's sid) and must not be
 * enough to act as the browser.
 */
export function parseSessionSecret(value: string): { sessionId: string; hash: string } | undefined {
  const match = SESSION_SECRET.exec(value);
  return match?.[1] ? { sessionId: match[1], hash: hashSessionSecret(value) } : undefined;
}
