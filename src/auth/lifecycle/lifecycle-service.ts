import type { ServiceImpl } from "@connectrpc/connect";
import type { AuthService } from "../../gen/auth/v1/auth_pb.js";
import { DomainError, invalidArgument } from "../../platform/errors.js";
import { kRequestMeta } from "../../platform/request-context.js";
import type { AbuseProtection } from "../abuse/abuse-protection.js";
import { activeCaller } from "../active-caller.js";
import type { RequestAudit } from "../audit/request-audit.js";
import type { Authenticator } from "../authenticate.js";
import { normalizeEmail } from "../email.js";
import type { PasswordHasher } from "../passwords/password-hasher.js";
import type { PasswordPolicy } from "../passwords/password-policy.js";
import { requirePassword } from "../passwords/require-password.js";
import type { RecentProof } from "../recent-proof.js";
import type { SessionStore } from "../sessions/session-store.js";
import type { UserStore } from "../users/user-store.js";
import { requireAccountToken } from "./account-token.js";
import type { AccountWrites } from "./account-writes.js";

export type LifecycleHandlers = Pick<
  ServiceImpl<typeof AuthService>,
  "requestEmailVerification" | "changeEmail" | "verifyEmail" | "requestPasswordReset" | "resetPassword"
>;

export interface LifecycleServiceDeps {
  users: UserStore;
  accounts: AccountWrites;
  sessions: SessionStore;
  authenticator: Authenticator;
  hasher: PasswordHasher;
  policy: PasswordPolicy;
  abuse: AbuseProtection;
  audit: RequestAudit;
  recentProof: RecentProof;
}

const badToken = () => invalidArgument("token is invalid, expired or already used");

export function createLifecycleService(deps: LifecycleServiceDeps): LifecycleHandlers {
  const { accounts, sessions, abuse, audit } = deps;
  const ipOf = (ctx: Parameters<RequestAudit>[0]) => ctx.values.get(kRequestMeta).ip;

  return {
    async requestEmailVerification(_req, ctx) {
      const { user } = await activeCaller(deps, ctx);
      if (user.emailVerified) throw new DomainError("failed_precondition", "email is already verified");
      await abuse.mailIp.consume(ctx, ipOf(ctx));
      await abuse.mailAccount.consume(ctx, user.email);
      await accounts.requestVerification(user);
      await audit(ctx, { type: "email.verification_requested", userId: user.id });
      return {};
    },

    async changeEmail(req, ctx) {
      const caller = await activeCaller(deps, ctx);
      const { user } = caller;
      const current = requirePassword("current_password", req.currentPassword);
      const newEmail = normalizeEmail(req.newEmail);
      if (newEmail === user.email) throw invalidArgument("new_email is already the account's email");
      // Spent before the password check too, so a stolen access token buys few password guesses.
      await abuse.mailIp.consume(ctx, ipOf(ctx));
      await abuse.mailAccount.consume(ctx, user.email);
      // Keyed on the new address whether or not it is taken, so the limit itself reveals nothing.
      await abuse.mailAccount.consume(ctx, newEmail);
      await deps.recentProof.require(ctx, caller, current, "change_email");
      // Either way one transaction and two mails, and the same empty answer (no user enumeration).
      await accounts.requestEmailChange(user, newEmail);
      await audit(ctx, { type: "email.change_requested", userId: user.id });
      return {};
    },

    async verifyEmail(req, ctx) {
      const token = requireAccountToken(req.token);
      await abuse.tokenIp.consume(ctx, ipOf(ctx));
      const account = await accounts.verifyEmail(token);
      if (!account) throw badToken();
      // Sessions opened before this commit would otherwise prove only `basic` until they end.
      await sessions.markEmailVerified(account.id);
      await audit(ctx, { type: account.previousEmail ? "email.changed" : "email.verified", userId: account.id });
      return {};
    },

    async requestPasswordReset(req, ctx) {
      const email = normalizeEmail(req.email);
      await abuse.mailIp.consume(ctx, ipOf(ctx));
      // Keyed on the address whether or not an account has it, so the limit itself reveals nothing.
      await abuse.mailReset.consume(ctx, email);
      // No lookup first: the one write below (with its audit row) does the same work whether or not the address has an account.
      const { ip, userAgent, requestId } = ctx.values.get(kRequestMeta);
      await accounts.requestReset(email, { ip, userAgent, requestId });
      // The same empty answer either way (no user enumeration).
      return {};
    },

    async resetPassword(req, ctx) {
      const token = requireAccountToken(req.token);
      const password = requirePassword("new_password", req.newPassword);
      // Policy first: a refused password must not burn the single-use token.
      await deps.policy.assess(password);
      await abuse.tokenIp.consume(ctx, ipOf(ctx));
      const account = await accounts.resetPassword(token, await deps.hasher.hash(password));
      if (!account) throw badToken();
      // The sessions ended with the commit (session-revocations.ts); the lock an attacker caused is lifted.
      await abuse.lockout.clear(account.email);
      await audit(ctx, { type: "password.reset", userId: account.id, details: { revokedSessions: account.revokedSessions ?? "pending" } });
      return { revokedSessions: account.revokedSessions ?? 0 };
    },
  };
}
