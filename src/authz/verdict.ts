import { isBrowserNavigation, isCanonicalPath, type CheckInput } from "./check-input.js";
import type { AllowReason, Decision } from "./decision.js";

/** Headers only this server may set for upstreams; a client's copies are always replaced or removed. */
const IDENTITY_HEADERS = ["x-user-id", "x-session-id", "x-auth-level", "x-auth-degraded"];

/** Per allow reason, the identity headers its upstreamHeaders do not set, in IDENTITY_HEADERS order: fixed, so built once. */
const REMOVED_HEADERS: Record<AllowReason, string[]> = {
  public: IDENTITY_HEADERS,
  authenticated: ["x-auth-degraded"],
  degraded: [],
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
    const upstreamHeaders: Array<[string, string]> =
      decision.reason === "public"
        ? []
        : [
            ["x-user-id", decision.identity.userId],
            ["x-session-id", decision.identity.sessionId],
            ["x-auth-level", decision.identity.level],
          ];
    if (decision.reason === "degraded") upstreamHeaders.push(["x-auth-degraded", "1"]);
    return { status: 200, upstreamHeaders, removeHeaders: REMOVED_HEADERS[decision.reason], clientHeaders: [], body: "" };
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
