import type { JWTPayload } from "jose";
import type { SessionAcr } from "./auth-level.js";
import { wellFormedRoles } from "./roles.js";

// RFC 9068 2.1: access tokens carry typ "at+jwt", so an ID token or other JWT cannot stand in for one.
export const ACCESS_TOKEN_TYP = "at+jwt";
export const CLOCK_TOLERANCE_S = 5;
/** Longer than any token we issue; refused before any parsing. */
export const MAX_ACCESS_TOKEN_LENGTH = 4096;
/** The algorithms the auth service can be configured to sign with (SIGNING_KEY_ALG). */
export const SIGNING_ALGORITHMS = ["EdDSA", "ES256"] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** What a verified access token says. */
export interface AccessClaims {
  userId: string;
  sessionId: string;
  tokenId: string;
  /** Seconds since the epoch (RFC 7519 4.1.6). */
  issuedAt: number;
  /** Seconds since the epoch (RFC 7519 4.1.4). */
  expiresAt: number;
  /** RFC 9068 2.2.1; a token without it proves `basic`. */
  acr: SessionAcr;
  /** OpenID Connect Core 5.1; absent means unverified. */
  emailVerified: boolean;
  /** RFC 9068 7.2.1.1 (SCIM `roles`): the user's roles when the token was issued; absent means none. */
  roles: string[];
  /**
   * RFC 9068 2.2: the OAuth client a delegated token was issued to. Our own session tokens never carry
   * it, so a token that does is never taken as the user's own, whatever audience it names.
   */
  clientId?: string;
  /** RFC 9068 2.2.3: the scopes granted to that client, space-separated. */
  scope?: string;
}

// RFC 6749 3.3: scope = scope-token *( SP scope-token ), scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
const VISIBLE_ASCII = /^[\x21-\x7E]+$/;
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/;

/** The claims of a payload whose signature and claims verified (access-token-verify.ts); undefined if one has the wrong type. */
export function readAccessClaims(payload: JWTPayload): AccessClaims | undefined {
  const { sub, sid, jti, iat, exp, acr, email_verified, roles, client_id, scope } = payload;
  if (typeof sub !== "string" || sub === "" || typeof sid !== "string" || sid === "" || typeof jti !== "string") return undefined;
  if (typeof iat !== "number" || typeof exp !== "number") return undefined;
  // Both travel upstream as headers (x-oauth-client-id, x-oauth-scope): visible ASCII only, never a line break.
  if (client_id !== undefined && (typeof client_id !== "string" || !VISIBLE_ASCII.test(client_id))) return undefined;
  if (scope !== undefined && (typeof scope !== "string" || (scope !== "" && !SCOPE.test(scope)))) return undefined;
  const claims: AccessClaims = { userId: sub, sessionId: sid, tokenId: jti, issuedAt: iat, expiresAt: exp, acr: acr === "mfa" ? "mfa" : "basic", emailVerified: email_verified === true, roles: Array.isArray(roles) ? wellFormedRoles(roles) : [] };
  if (typeof client_id === "string") claims.clientId = client_id;
  if (typeof scope === "string") claims.scope = scope;
  return claims;
}
