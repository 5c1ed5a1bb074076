/**
 * The two credentials a request can carry, parsed one way for every service: the auth service
 * (its RPCs and hosted pages) and the authz server must agree on what a request presents, or a
 * credential one accepts could be one the other cannot find (and so cannot revoke).
 */

// Larger than any access token we issue (MAX_ACCESS_TOKEN_LENGTH); anything bigger is refused unparsed.
const MAX_AUTHORIZATION_LENGTH = 4096 + 16;
const MAX_COOKIE_HEADER_LENGTH = 16_384;
const JWT_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Why a Bearer credential is not one of our tokens: none after the scheme, too long to be ours, or not a compact JWT. */
export type MalformedBearer = "empty" | "too_long" | "not_a_jwt";

export type BearerResult = { kind: "none" } | { kind: "malformed"; reason: MalformedBearer } | { kind: "token"; token: string };

/**
 * RFC 6750 2.1: `Authorization: Bearer <b64token>`, the scheme case-insensitive (RFC 9110 11.1);
 * our tokens are compact JWTs. Another scheme is no bearer at all; a Bearer that is not one of
 * our tokens is malformed.
 */
export function parseBearer(authorization: string | null | undefined): BearerResult {
  if (authorization === undefined || authorization === null) return { kind: "none" };
  if (authorization.length > MAX_AUTHORIZATION_LENGTH) return { kind: "malformed", reason: "too_long" };
  const value = authorization.trim();
  const match = /^bearer +(\S+)$/i.exec(value);
  if (!match?.[1]) return /^bearer\b/i.test(value) ? { kind: "malformed", reason: "empty" } : { kind: "none" };
  return JWT_COMPACT.test(match[1]) ? { kind: "token", token: match[1] } : { kind: "malformed", reason: "not_a_jwt" };
}

/**
 * The first cookie called `name` in a Cookie header (RFC 6265 5.4 sends them most-specific
 * first), with the DQUOTEs of a quoted cookie-value (RFC 6265 4.1.1) removed; undefined if absent.
 */
export function cookieValue(cookieHeader: string | null | undefined, name: string): string | undefined {
  if (cookieHeader === undefined || cookieHeader === null || cookieHeader.length > MAX_COOKIE_HEADER_LENGTH) return undefined;
  for (const pair of cookieHeader.split(";")) {
    const eq = pair.indexOf("=");
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    const value = pair.slice(eq + 1).trim();
    return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
  }
  return undefined;
}

/** RFC 6265 4.1.1: a cookie-name is an RFC 9110 token. */
export const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
