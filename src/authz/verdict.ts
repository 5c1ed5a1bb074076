import { isBrowserNavigation, isCanonicalPath, type CheckInput } from "./check-input.js";
import type { AllowReason, Decision } from "./decision.js";

/** What an OAuth token's delegation tells upstreams: which client acts, for which resource, with which scopes. */
const DELEGATION_HEADERS = ["x-oauth-client-id", "x-oauth-audience", "x-oauth-scope"];

/** Headers only this server may set for upstreams; a client's copies are always replaced or removed. */
export const IDENTITY_HEADERS = ["x-user-id", "x-session-id", "x-auth-level", "x-auth-degraded", ...DELEGATION_HEADERS];

/**
 * Per allow reason, and whether the identity carries a delegation (with a scope or none), the identity
 * headers its upstreamHeaders do not set, in IDENTITY_HEADERS order: fixed, so built once.
 */
const REMOVED_HEADERS: Record<AllowReason, { own: string[]; delegated: string[]; unscoped: string[] }> = {
  public: { own: IDENTITY_HEADERS, delegated: IDENTITY_HEADERS, unscoped: IDENTITY_HEADERS },
  authenticated: { own: ["x-auth-degraded", ...DELEGATION_HEADERS], delegated: ["x-auth-degraded"], unscoped: ["x-auth-degraded", "x-oauth-scope"] },
  degraded: { own: DELEGATION_HEADERS, delegated: [], unscoped: ["x-oauth-scope"] },
};

export interface Verdict {
  /** 200 to allow; otherwise the status the client gets. */
  status: number;
  /** Added to the request sent upstream (allow only). */
  upstreamHeaders: Array<[string, string]>;
  /** Client-sent identity headers to strip that `upstreamHeaders` does not already replace. */
  removeHeaders: string[];
  /** Sent to the client (deny only). */
  clientHeaders: Array<[string, string]>;
  body: string;
}

export interface VerdictOptions {
  realm: string;
  signinUrl: string;
  /** Answer browsers with a 302; nginx auth_request cannot pass one through, so it gets 401 + x-auth-redirect. */
  redirectBrowsers: boolean;
}

/** Where to send a browser to sign in, returning it to the page it asked for. */
function signinRedirect(input: CheckInput, signinUrl: string): string {
  const url = new URL(signinUrl);
  // Only a plain local path goes back: never a scheme-relative `//evil.example` (open redirect, OWASP ASVS 5.1.5).
  const path = isCanonicalPath(input.path) ? input.path : "/";
  url.searchParams.set("return_to", input.query === "" ? path : `${path}?${input.query}`);
  return url.toString();
}

/** Renders a decision as HTTP terms shared by the Envoy and forward-auth front ends. */
export function toVerdict(decision: Decision, input: CheckInput, options: VerdictOptions): Verdict {
  if (decision.allow) {
    if (decision.reason === "public") return { status: 200, upstreamHeaders: [], removeHeaders: REMOVED_HEADERS.public.own, clientHeaders: [], body: "" };
    const { identity } = decision;
    const upstreamHeaders: Array<[string, string]> = [
      ["x-user-id", identity.userId],
      ["x-session-id", identity.sessionId],
      ["x-auth-level", identity.level],
    ];
    if (decision.reason === "degraded") upstreamHeaders.push(["x-auth-degraded", "1"]);
    const removed = REMOVED_HEADERS[decision.reason];
    if (!identity.delegation) return { status: 200, upstreamHeaders, removeHeaders: removed.own, clientHeaders: [], body: "" };
    // An upstream authorizes a delegated call by its scopes, not by the user alone (RFC 9068 4).
    upstreamHeaders.push(["x-oauth-client-id", identity.delegation.clientId], ["x-oauth-audience", identity.delegation.audience]);
    // No scope granted: no header, as nginx sends none for an empty value; a client's copy still goes.
    if (identity.delegation.scope === "") return { status: 200, upstreamHeaders, removeHeaders: removed.unscoped, clientHeaders: [], body: "" };
    upstreamHeaders.push(["x-oauth-scope", identity.delegation.scope]);
    return { status: 200, upstreamHeaders, removeHeaders: removed.delegated, clientHeaders: [], body: "" };
  }

  const clientHeaders: Array<[string, string]> = [
    ["x-auth-reason", decision.reason],
    ["cache-control", "no-store"],
    ["content-type", "application/json"],
  ];
  let status: number = decision.status;
  if (decision.status === 401) {
    // RFC 6750 3.1: error="invalid_token" when a token was presented but is not acceptable.
    const error = decision.reason === "missing_credential" ? "" : `, error="invalid_token"`;
    clientHeaders.push(["www-authenticate", `Bearer realm="${options.realm}"${error}`]);
    if (isBrowserNavigation(input)) {
      const location = signinRedirect(input, options.signinUrl);
      if (options.redirectBrowsers) {
        status = 302;
        clientHeaders.push(["location", location]);
      } else {
        clientHeaders.push(["x-auth-redirect", location]);
      }
    }
  } else if (decision.reason === "insufficient_level") {
    // RFC 6750 3.1: insufficient_scope answers 403; the level needed travels as the scope.
    clientHeaders.push(["www-authenticate", `Bearer realm="${options.realm}", error="insufficient_scope", scope="${decision.requiredLevel ?? ""}"`]);
  }
  return { status, upstreamHeaders: [], removeHeaders: [], clientHeaders, body: JSON.stringify({ code: decision.reason }) };
}
