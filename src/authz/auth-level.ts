/** Assurance levels, weakest first: a route needing `verified` also admits `mfa`. */
export const AUTH_LEVELS = ["basic", "verified", "mfa"] as const;
export type AuthLevel = (typeof AUTH_LEVELS)[number];

export const meetsLevel = (have: AuthLevel, need: AuthLevel): boolean => AUTH_LEVELS.indexOf(have) >= AUTH_LEVELS.indexOf(need);

/**
 * The level a credential proves. `acr` (RFC 9068 2.2.1, OpenID Connect Core 2) carries it when the
 * auth service states one; `email_verified` alone lifts a basic credential to `verified`.
 */
export function levelOf(acr: unknown, emailVerified?: unknown): AuthLevel {
  const stated = typeof acr === "string" && (AUTH_LEVELS as readonly string[]).includes(acr) ? (acr as AuthLevel) : "basic";
  return emailVerified === true && stated === "basic" ? "verified" : stated;
}
