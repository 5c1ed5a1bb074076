import type { HandlerContext } from "@connectrpc/connect";
import type { Clock } from "../platform/clock.js";
import { DomainError } from "../platform/errors.js";
import type { ActiveCaller } from "./active-caller.js";
import { requireCurrentPassword } from "./active-caller.js";
import type { AbuseProtection } from "./abuse/abuse-protection.js";
import type { RequestAudit } from "./audit/request-audit.js";
import { kRequestMeta } from "../platform/request-context.js";
import type { PasswordHasher } from "./passwords/password-hasher.js";
import type { SessionStore } from "./sessions/session-store.js";

/**
 * ASVS V3.7.1: a change to how the account is proved (factors, email, password) needs a recent
 * proof of the user, not only a live token: a stolen access token or refresh token must not be
 * enough to lock the owner out.
 */
export interface RecentProof {
  /**
   * Passes when `currentPassword` is given and right (it then becomes the session's newest
   * proof, so a follow-up step such as ConfirmTotpEnrollment passes too), or, with no password,
   * when the session's last proof is at most REAUTH_MAX_AGE old. A wrong password is audited
   * and PERMISSION_DENIED; a stale session without one is PERMISSION_DENIED.
   */
  require(ctx: HandlerContext, caller: ActiveCaller, currentPassword: string, during: string): Promise<void>;
}

export interface RecentProofDeps {
  /** A wrong current password is a failed sign-in: it spends the IP's budget and counts toward the account's lockout. */
  abuse: Pick<AbuseProtection, "signInIp" | "lockout">;
  hasher: PasswordHasher;
  audit: RequestAudit;
  sessions: Pick<SessionStore, "markReauthenticated">;
  clock: Clock;
  /** REAUTH_MAX_AGE: how old the session's last proof may be (OIDC max_age). */
  maxAgeMs: number;
}

export function createRecentProof(deps: RecentProofDeps): RecentProof {
  return {
    async require(ctx, caller, currentPassword, during) {
      if (currentPassword !== "") {
        // Otherwise a stolen token would buy unlimited password guesses, one argon2 verify each.
        const ip = ctx.values.get(kRequestMeta).ip;
        await deps.abuse.signInIp.check(ctx, ip);
        if ((await deps.abuse.lockout.lockedFor(caller.user.email, ip)) === "capped") {
          throw new DomainError("resource_exhausted", "too many failed sign-ins; reset the password to sign in again");
        }
        try {
          await requireCurrentPassword(deps, ctx, caller.user, currentPassword, during);
        } catch (error) {
          await deps.abuse.signInIp.penalize(ip);
          await deps.abuse.lockout.recordFailure(caller.user.email);
          throw error;
        }
        await deps.sessions.markReauthenticated(caller.sessionId, caller.userId);
        return;
      }
      if (deps.clock.now() - caller.session.authTime.getTime() <= deps.maxAgeMs) return;
      throw new DomainError("permission_denied", "this change needs a recent sign-in: send current_password, or sign in again");
    },
  };
}
