import { timingSafeEqual } from "node:crypto";
import { meetsLevel, type AuthLevel } from "../contract/auth-level.js";
import { cookieValue, parseBearer } from "../contract/credentials.js";
import { deviceMatches, type DeviceBinding } from "../contract/device-fingerprint.js";
import { parseSessionSecret } from "../contract/session-secret.js";
import type { Clock } from "../platform/clock.js";
import type { CheckInput } from "./check-input.js";
import type { DegradedMode } from "./config.js";
import { deny, type Decision, type Delegation, type DenyReason, type Identity } from "./decision.js";
import type { RolePolicy } from "./role-rules.js";
import type { RoutePolicy } from "./route-policy.js";
import type { AudiencePolicy } from "./audience-rules.js";
import { SessionStoreUnavailable, type SessionLookup, type SessionState } from "./session-lookup.js";
import type { TokenClaims, TokenVerifier } from "./token-verifier.js";

export interface CheckPipeline {
  check(input: CheckInput): Promise<Decision>;
}

export interface CheckPipelineDeps {
  tokens: TokenVerifier;
  sessions: SessionLookup;
  routes: RoutePolicy;
  /** AUTHZ_ROLE_RULES; no role is asked for without it. */
  roles?: RolePolicy;
  /** Where OAuth access tokens pass (AUTHZ_AUDIENCE_RULES); without it they pass nowhere. */
  audiences?: AudiencePolicy;
  clock: Clock;
  sessionCookie: string;
  degradedMode: DegradedMode;
  deviceBinding: DeviceBinding;
  /** Told after every session read whether the store answered, so metrics and logs can show degraded operation. */
  onStoreStatus(reachable: boolean): void;
}

/** An OAuth token's delegation travels with the identity (x-oauth-* upstream); our own tokens and cookies have none. */
const withDelegation = (identity: Identity, delegation: Delegation | undefined): Identity => (delegation ? { ...identity, delegation } : identity);

const sameHash = (stored: string | undefined, presented: string) =>
  stored !== undefined && stored.length === presented.length && timingSafeEqual(Buffer.from(stored), Buffer.from(presented));

type Principal = { via: "token"; claims: TokenClaims } | { via: "cookie"; sessionId: string; cookieHash: string };

/**
 * The Check as phases (after Kuadrant/authorino): route (public?) -> identity (the first credential
 * that verifies) -> session state (live, unexpired, same device) -> route level -> allow. Every
 * outcome is a Decision; only bugs throw.
 */
export function createCheckPipeline(deps: CheckPipelineDeps): CheckPipeline {
  async function identify(input: CheckInput): Promise<Principal | DenyReason> {
    let failure: DenyReason = "missing_credential";
    const bearer = parseBearer(input.headers.get("authorization"));
    if (bearer.kind === "malformed") failure = "invalid_token";
    if (bearer.kind === "token") {
      const result = await deps.tokens.verify(bearer.token);
      if (result.ok) return { via: "token", claims: result.claims };
      failure = result.reason;
    }
    const cookie = cookieValue(input.headers.get("cookie"), deps.sessionCookie);
    if (cookie === undefined) return failure;
    const parsed = parseSessionSecret(cookie);
    return parsed ? { via: "cookie", sessionId: parsed.sessionId, cookieHash: parsed.hash } : "invalid_cookie";
  }

  async function readSession(sessionId: string): Promise<SessionState | null | "unavailable"> {
    try {
      const session = await deps.sessions.get(sessionId);
      deps.onStoreStatus(true);
      return session;
    } catch (error) {
      if (!(error instanceof SessionStoreUnavailable)) throw error;
      deps.onStoreStatus(false);
      return "unavailable";
    }
  }

  function authorize(input: CheckInput, identity: Identity, reason: "authenticated" | "degraded", roles: readonly string[] = []): Decision {
    const needed: AuthLevel | undefined = deps.routes.requiredLevel(input.path);
    if (needed && !meetsLevel(identity.level, needed)) return deny("insufficient_level", needed);
    if (deps.roles && !deps.roles.requiredRoles(input.path).every((role) => roles.includes(role))) return deny("missing_role");
    return { allow: true, reason, identity };
  }

  return {
    async check(input) {
      if (deps.routes.isPublic(input.path)) return { allow: true, reason: "public" };

      const principal = await identify(input);
      if (typeof principal === "string") return deny(principal);
      // RFC 9068 4: a resource server accepts only tokens issued for it; checked before any session read.
      const delegation = principal.via === "token" ? principal.claims.delegation : undefined;
      if (delegation !== undefined && !deps.audiences?.accepts(input.path, delegation.audience)) return deny("wrong_audience");
      const sessionId = principal.via === "token" ? principal.claims.sessionId : principal.sessionId;

      const session = await readSession(sessionId);
      if (session === "unavailable") {
        // Fail closed unless configured otherwise; even then only a signed, unexpired token passes, never a bare cookie.
        if (principal.via !== "token" || deps.degradedMode !== "allow_tokens") return deny("session_store_unavailable");
        const { userId, level } = principal.claims;
        // The roles as of the token's issue: the only statement of them there is while Redis is away.
        return authorize(input, withDelegation({ userId, sessionId, level, via: "token" }, delegation), "degraded", principal.claims.roles);
      }
      if (session === null) return deny("session_not_found");
      if (session.expiresAt <= deps.clock.now()) return deny("session_expired");
      if (principal.via === "token" && principal.claims.userId !== session.userId) return deny("invalid_token");
      // The cookie is its own secret: knowing a session id (x-session-id, a JWT's sid) is not enough to be the browser.
      if (principal.via === "cookie" && !sameHash(session.cookieHash, principal.cookieHash)) return deny("invalid_cookie");
      if (!deviceMatches(deps.deviceBinding, (name) => input.headers.get(name), session)) return deny("device_mismatch");

      const level = principal.via === "token" ? principal.claims.level : session.level;
      // Roles come from the user's record for tokens too, not the claim: a removal holds at once (README, Roles).
      return authorize(input, withDelegation({ userId: session.userId, sessionId, level, via: principal.via }, delegation), "authenticated", session.roles);
    },
  };
}
