/** Assurance levels, weakest first: a route needing `verified` also admits `mfa`. */
export const AUTH_LEVELS = ["basic", "verified", "mfa"] as const;
export type AuthLevel = (typeof AUTH_LEVELS)[number];

/** How a session was opened: "mfa" with a second factor (CompleteSignIn), else "basic". */
export type SessionAcr = "mfa" | "basic";

export const meetsLevel = (have: AuthLevel, need: AuthLevel): boolean => AUTH_LEVELS.indexOf(have) >= AUTH_LEVELS.indexOf(need);

/**
 * The level a credential proves. `verified`: the account's email is verified. `mfa`: the session was
 * opened with a second factor (`acr` "mfa", RFC 9068 2.2.1, OpenID Connect Core 2) and the email is
 * verified too, so that `mfa` admits everything `verified` does; an MFA session with an unverified
 * email proves only `basic` until the email is verified.
 */
export function levelOf(acr: unknown, emailVerified: unknown): AuthLevel {
  if (emailVerified !== true) return "basic";
  return acr === "mfa" ? "mfa" : "verified";
}
