import type { AuthLevel } from "../contract/auth-level.js";

/** Stable reason codes, sent to clients in `x-auth-reason` and used as the metrics label. */
export type DenyReason =
  | "missing_credential"
  | "invalid_token"
  | "invalid_cookie"
  | "token_expired"
  | "session_not_found"
  | "session_expired"
  | "device_mismatch"
  | "insufficient_level"
  | "missing_role"
  | "wrong_audience"
  | "session_store_unavailable"
  | "jwks_unavailable";

export type AllowReason = "authenticated" | "public" | "degraded";

export type DenyStatus = 401 | 403 | 503;

/** The one table from reason to HTTP status: 401 asks for (other) credentials, 403 does not, 503 is our fault. */
const DENY_STATUS: Record<DenyReason, DenyStatus> = {
  missing_credential: 401,
  invalid_token: 401,
  invalid_cookie: 401,
  token_expired: 401,
  session_not_found: 401,
  session_expired: 401,
  device_mismatch: 401,
  insufficient_level: 403,
  missing_role: 403,
  // An OAuth token for another resource: a credential, just not one for here.
  wrong_audience: 403,
  session_store_unavailable: 503,
  jwks_unavailable: 503,
};

/** What an OAuth access token (RFC 9068) says of the delegation it carries; our own session tokens carry none. */
export interface Delegation {
  /** RFC 9068 2.2 `client_id`: the client the user (or, for client_credentials, no one) delegated to. */
  clientId: string;
  /** The resource (RFC 8707) the token was issued for, which the route accepted (AUTHZ_AUDIENCE_RULES). */
  audience: string;
  /** RFC 9068 2.2.3 `scope`, space-separated; empty when none was granted. */
  scope: string;
}

export interface Identity {
  userId: string;
  sessionId: string;
  level: AuthLevel;
  via: "token" | "cookie";
  delegation?: Delegation;
}

export type Decision =
  | { allow: true; reason: "public" }
  | { allow: true; reason: "authenticated" | "degraded"; identity: Identity }
  | { allow: false; reason: DenyReason; status: DenyStatus; requiredLevel?: AuthLevel };

export const deny = (reason: DenyReason, requiredLevel?: AuthLevel): Decision =>
  requiredLevel ? { allow: false, reason, status: DENY_STATUS[reason], requiredLevel } : { allow: false, reason, status: DENY_STATUS[reason] };
