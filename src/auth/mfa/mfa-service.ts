import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { AuthService } from "../../gen/auth/v1/auth_pb.js";
import { DomainError, invalidArgument } from "../../platform/errors.js";
import { kRequestMeta } from "../../platform/request-context.js";
import type { AbuseProtection } from "../abuse/abuse-protection.js";
import { activeCaller, type ActiveCaller } from "../active-caller.js";
import type { RequestAudit } from "../audit/request-audit.js";
import type { Authenticator } from "../authenticate.js";
import type { RecentProof } from "../recent-proof.js";
import { sessionOpenedBy, type DeviceOf } from "../sessions/device-of.js";
import type { SessionStore } from "../sessions/session-store.js";
import type { AccessTokens } from "../tokens/access-tokens.js";
import { tokenPair } from "../tokens/token-pair.js";
import type { UserStore } from "../users/user-store.js";
import type { MfaStore } from "./mfa-store.js";
import { hashRecoveryCode, newRecoveryCodes } from "./recovery-codes.js";
import type { SecondFactor } from "./second-factor.js";
import type { SignInChallenges } from "./sign-in-challenges.js";
import type { Totp } from "./totp.js";

export type MfaHandlers = Pick<
  ServiceImpl<typeof AuthService>,
  "completeSignIn" | "beginTotpEnrollment" | "confirmTotpEnrollment" | "disableTotp"
>;

export interface MfaServiceDeps {
  users: UserStore;
  store: MfaStore;
  factor: SecondFactor;
  totp: Totp;
  challenges: SignInChallenges;
  sessions: SessionStore;
  tokens: AccessTokens;
  authenticator: Authenticator;
  abuse: AbuseProtection;
  audit: RequestAudit;
  deviceOf: DeviceOf;
  recentProof: RecentProof;
}

const requireCode = (code: string) => {
  if (code.trim() === "") throw invalidArgument("code is required");
  if (code.length > 64) throw invalidArgument("code is too long");
  return code;
};

export function createMfaService(deps: MfaServiceDeps): MfaHandlers {
  const { users, store, factor, challenges, sessions, abuse, audit } = deps;

  /** Every wrong code costs the IP and the account budget, and is audited. */
  async function wrongCode(ctx: HandlerContext, userId: string, during: string) {
    await abuse.signInIp.penalize(ctx.values.get(kRequestMeta).ip);
    await abuse.mfaAccount.penalize(userId);
    await audit(ctx, { type: "mfa.failure", userId, details: { during } });
  }

  async function checkBudgets(ctx: HandlerContext, userId: string) {
    await abuse.signInIp.check(ctx, ctx.values.get(kRequestMeta).ip);
    await abuse.mfaAccount.check(ctx, userId);
  }

  /**
   * Who may turn a factor on: an account whose mailbox is proved (else whoever signed up first
   * with someone else's address could lock its owner out for good), by a caller who proved
   * themselves recently (ASVS V3.7.1).
   */
  async function enrolling(ctx: HandlerContext, currentPassword: string): Promise<ActiveCaller> {
    const caller = await activeCaller(deps, ctx);
    if (!caller.user.emailVerified) throw new DomainError("failed_precondition", "verify your email address before turning on two-step sign-in");
    await deps.recentProof.require(ctx, caller, currentPassword, "totp_enrollment");
    return caller;
  }

  return {
    async completeSignIn(req, ctx) {
      const code = requireCode(req.code);
      const pending = await challenges.get(req.challenge);
      if (!pending) throw new DomainError("unauthenticated", "sign-in challenge is invalid or expired; sign in again");
      await checkBudgets(ctx, pending.userId);
      // One code check per challenge at a time: a concurrent second attempt is refused before its code is spent.
      if (!(await challenges.claim(req.challenge))) throw new DomainError("unauthenticated", "this sign-in is being completed by another request");
      const used = await factor.verify(pending.userId, code).catch(async (error: unknown) => {
        await challenges.release(req.challenge);
        throw error;
      });
      if (!used) {
        await wrongCode(ctx, pending.userId, "sign_in");
        const left = await challenges.fail(req.challenge);
        await challenges.release(req.challenge);
        throw new DomainError("unauthenticated", left > 0 ? "invalid code" : "invalid code; this sign-in has ended, sign in again");
      }
      // Of two requests finishing the same challenge, only one gets a session.
      if (!(await challenges.consume(req.challenge))) throw new DomainError("unauthenticated", "sign-in challenge is invalid or expired; sign in again");
      const meta = ctx.values.get(kRequestMeta);
      await abuse.lockout.recordSuccess(pending.email, meta.ip);
      // Read now rather than at SignIn: the email may have been verified while the challenge waited.
      const emailVerified = (await users.findById(pending.userId))?.emailVerified === true;
      // The password was proven at SignIn: a change committed since ends this session too.
      const issued = await sessions.create(sessionOpenedBy(meta, deps.deviceOf, { userId: pending.userId, secondFactor: true, emailVerified, provenAt: pending.provenAt }));
      if (used === "recovery_code") await audit(ctx, { type: "mfa.recovery_code_used", userId: pending.userId });
      await audit(ctx, { type: "signin.success", userId: pending.userId, details: { sessionId: issued.session.id, factor: used } });
      return tokenPair(deps.tokens, issued);
    },

    async beginTotpEnrollment(req, ctx) {
      const { user } = await enrolling(ctx, req.currentPassword);
      const secret = deps.totp.newSecret();
      if (!(await store.beginEnrollment(user.id, factor.sealSecret(user.id, secret)))) {
        throw new DomainError("failed_precondition", "TOTP is already enabled; disable it first");
      }
      await audit(ctx, { type: "mfa.enrollment_started", userId: user.id });
      return { secret, otpauthUri: deps.totp.uri(secret, user.email) };
    },

    async confirmTotpEnrollment(req, ctx) {
      const code = requireCode(req.code);
      const { user } = await enrolling(ctx, "");
      const pending = await store.factor(user.id);
      if (!pending || pending.confirmed) throw new DomainError("failed_precondition", "no TOTP enrollment in progress; call BeginTotpEnrollment");
      await checkBudgets(ctx, user.id);
      const counter = factor.match(user.id, pending, code);
      if (counter === undefined) {
        await wrongCode(ctx, user.id, "enrollment");
        throw invalidArgument("code does not match; check the authenticator app's clock");
      }
      const recoveryCodes = newRecoveryCodes();
      if (!(await store.confirm(user, counter, recoveryCodes.map(hashRecoveryCode)))) {
        throw new DomainError("failed_precondition", "TOTP enrollment changed concurrently; start again");
      }
      await audit(ctx, { type: "mfa.enabled", userId: user.id });
      return { recoveryCodes };
    },

    async disableTotp(req, ctx) {
      const code = requireCode(req.code);
      const { user } = await activeCaller(deps, ctx);
      const enabled = await store.factor(user.id);
      if (!enabled?.confirmed) throw new DomainError("failed_precondition", "TOTP is not enabled");
      await checkBudgets(ctx, user.id);
      // A stolen access token alone must not be able to remove the second factor.
      const used = await factor.verify(user.id, code, enabled);
      if (!used) {
        await wrongCode(ctx, user.id, "disable");
        throw new DomainError("permission_denied", "a current TOTP code or a recovery code is required");
      }
      await store.disable(user);
      await audit(ctx, { type: "mfa.disabled", userId: user.id, details: { factor: used } });
      return {};
    },
  };
}
