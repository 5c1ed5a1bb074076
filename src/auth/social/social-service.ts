import { timingSafeEqual } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import * as oidc from "openid-client";
import type { SocialService } from "../../gen/auth/v1/social_pb.js";
import type { Clock } from "../../platform/clock.js";
import { DomainError, invalidArgument, invalidCredentials } from "../../platform/errors.js";
import { kRequestMeta } from "../../platform/request-context.js";
import type { AbuseProtection } from "../abuse/abuse-protection.js";
import { retryLater } from "../abuse/retry-later.js";
import { activeCaller } from "../active-caller.js";
import type { RequestAudit } from "../audit/request-audit.js";
import type { Authenticator } from "../authenticate.js";
import { normalizeEmail } from "../email.js";
import { hashAccountToken, newAccountToken, requireAccountToken } from "../lifecycle/account-token.js";
import type { AccountRef } from "../lifecycle/account-writes.js";
import type { Mail } from "../mail/mail.js";
import type { MailTemplates } from "../mail/templates.js";
import type { SecondFactor } from "../mfa/second-factor.js";
import type { SignInChallenges } from "../mfa/sign-in-challenges.js";
import type { PasswordHasher } from "../passwords/password-hasher.js";
import { requirePassword } from "../passwords/require-password.js";
import { safeReturnTo } from "../pages/return-to.js";
import type { RecentProof } from "../recent-proof.js";
import { sessionOpenedBy, type DeviceOf } from "../sessions/device-of.js";
import { cacheDroppedThenRevoked, type SessionRevocations } from "../sessions/session-revocations.js";
import type { SessionStore } from "../sessions/session-store.js";
import type { AccessTokens } from "../tokens/access-tokens.js";
import { tokenPair } from "../tokens/token-pair.js";
import type { User, UserStore } from "../users/user-store.js";
import type { IdentityStore, StoredIdentity } from "./identity-store.js";
import type { PendingFlows, PendingLink } from "./pending-flows.js";
import { providerUnavailable, refusalCode, type ProviderClient } from "./provider-client.js";
import type { SocialProvider } from "./social-config.js";

export interface ConfiguredProvider {
  provider: SocialProvider;
  client: ProviderClient;
  /** The callback URL registered at the provider: PUBLIC_BASE_URL/signin/social/<id>/callback. */
  redirectUri: string;
}

export interface SocialServiceDeps {
  providers: ReadonlyMap<string, ConfiguredProvider>;
  identities: IdentityStore;
  flows: PendingFlows;
  users: Pick<UserStore, "findById" | "findByEmail" | "holdsCredential">;
  sessions: SessionStore;
  tokens: AccessTokens;
  authenticator: Authenticator;
  hasher: PasswordHasher;
  abuse: AbuseProtection;
  audit: RequestAudit;
  secondFactor: Pick<SecondFactor, "required">;
  challenges: Pick<SignInChallenges, "create">;
  deviceOf: DeviceOf;
  recentProof: RecentProof;
  clock: Clock;
  /** A new account was written: drops cached lookups of its address, marks the write for read-your-writes. */
  accountWritten(account: AccountRef): Promise<void>;
  /** Applies, after the commit, a revocation an identity write recorded in its transaction. */
  revocations: Pick<SessionRevocations, "apply">;
  templates: Pick<MailTemplates, "linkSocialSignIn">;
  /** Puts a message in the outbox (the mail worker delivers it). */
  queueMail(mail: Mail): Promise<void>;
  /** How long a link ticket, and so a mailed link, lives. */
  linkTtlMs: number;
}

const MAX_CALLBACK_QUERY = 4096;
const IDENTITY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const EXPIRED = "this sign-in expired or was already used; start again";
const BAD_MAIL_TOKEN = "this link is invalid, expired or already used; ask for a new one";
const NOT_RECOGNISED = "this account cannot sign in";
/** The refusal of a callback that answers another request: the page keeps the flow's cookie, as the service keeps the flow. */
export const NOT_THIS_SIGN_IN = "the sign-in answer does not belong to this browser's sign-in; start again";

// RFC 6749 4.1.2.1 error codes, as the page says them: fixed words, so nothing a link carries is
// reflected; a code not in PROVIDER_ERRORS is said as UNKNOWN_ERROR, without the code.
const UNKNOWN_ERROR = "it refused the request";
const PROVIDER_ERRORS: Record<string, { kind: "permission_denied" | "unavailable" | "invalid_argument"; text: string }> = {
  access_denied: { kind: "permission_denied", text: "you did not allow the sign-in" },
  consent_required: { kind: "permission_denied", text: "you did not allow the sign-in" },
  login_required: { kind: "permission_denied", text: "you are not signed in there" },
  interaction_required: { kind: "permission_denied", text: "it needs you to act there first" },
  server_error: { kind: "unavailable", text: "it had an error; try again later" },
  temporarily_unavailable: { kind: "unavailable", text: "it is unavailable right now; try again later" },
  // Our request as the provider judged it (a scope or client it does not accept): named, for the operator.
  invalid_request: { kind: "invalid_argument", text: UNKNOWN_ERROR },
  unauthorized_client: { kind: "invalid_argument", text: UNKNOWN_ERROR },
  unsupported_response_type: { kind: "invalid_argument", text: UNKNOWN_ERROR },
  invalid_scope: { kind: "invalid_argument", text: UNKNOWN_ERROR },
};

const identityOut = (i: StoredIdentity) => ({
  identityId: i.id,
  provider: i.provider,
  email: i.email,
  linkedAt: timestampFromDate(i.createdAt),
  ...(i.lastUsedAt ? { lastUsedAt: timestampFromDate(i.lastUsedAt) } : {}),
});

export function createSocialService(deps: SocialServiceDeps): ServiceImpl<typeof SocialService> {
  const { abuse, audit, identities, flows } = deps;
  const method = (provider: string) => `social:${provider}`;

  function configured(id: string): ConfiguredProvider {
    const found = deps.providers.get(id);
    if (!found) throw new DomainError("not_found", "no such sign-in provider");
    return found;
  }

  async function refused(ctx: HandlerContext, provider: string, reason: string, error: DomainError, userId?: string): Promise<never> {
    await abuse.signInIp.penalize(ctx.values.get(kRequestMeta).ip);
    await audit(ctx, { type: "signin.failure", userId, details: { reason, method: method(provider) } });
    throw error;
  }

  /** Signs in to `user` with a proof made at `provenAt`: the account's second factor still applies (the provider's amr is not ours to trust). */
  async function signInAs(ctx: HandlerContext, user: User, identity: StoredIdentity, provenAt: number, returnTo: string) {
    const meta = ctx.values.get(kRequestMeta);
    if (user.disabled) return refused(ctx, identity.provider, "disabled", new DomainError("unauthenticated", NOT_RECOGNISED), user.id);
    await identities.recordUse(identity.id);
    if (await deps.secondFactor.required(user.id)) {
      const mfaChallenge = await deps.challenges.create({ userId: user.id, email: user.email, provenAt });
      await audit(ctx, { type: "mfa.challenge", userId: user.id, details: { method: method(identity.provider) } });
      return { mfaRequired: true, mfaChallenge, returnTo };
    }
    await abuse.lockout.recordSuccess(user.email, meta.ip);
    const issued = await deps.sessions.create(sessionOpenedBy(meta, deps.deviceOf, { userId: user.id, secondFactor: false, emailVerified: user.emailVerified, provenAt }));
    await audit(ctx, { type: "signin.success", userId: user.id, details: { sessionId: issued.session.id, method: method(identity.provider) } });
    return { ...(await tokenPair(deps.tokens, issued)), returnTo };
  }

  /** The account a link ticket would link to, if it may still be signed in to. */
  async function linkedAccount(ctx: HandlerContext, link: PendingLink): Promise<User> {
    const user = await deps.users.findById(link.userId);
    if (!user || user.disabled) return refused(ctx, link.provider, "disabled", new DomainError("unauthenticated", NOT_RECOGNISED), link.userId);
    return user;
  }

  /** The callback's identity from the provider (the flow's state already matched), every refusal mapped to what the page says. */
  async function identityFrom(ctx: HandlerContext, entry: ConfiguredProvider, query: URLSearchParams, checks: { state: string; nonce: string; codeVerifier: string }) {
    const { provider } = entry;
    const error = query.get("error");
    if (error !== null) {
      const known = Object.hasOwn(PROVIDER_ERRORS, error) ? PROVIDER_ERRORS[error] : undefined;
      const said = known ? `${known.text} (${error})` : UNKNOWN_ERROR;
      return refused(ctx, provider.id, `provider_error:${known ? error : "other"}`, new DomainError(known?.kind ?? "invalid_argument", `${provider.label} did not sign you in: ${said}`));
    }
    const callback = new URL(entry.redirectUri);
    callback.search = query.toString();
    try {
      return await entry.client.finish(callback, checks);
    } catch (failure) {
      if (providerUnavailable(failure)) {
        throw new DomainError("unavailable", `${provider.label} cannot be reached right now; try again later`, { cause: failure });
      }
      return refused(ctx, provider.id, `not_verified:${refusalCode(failure)}`, new DomainError("unauthenticated", `the answer from ${provider.label} could not be verified; start again`, { cause: failure }));
    }
  }

  return {
    async beginSocialSignIn(req, ctx) {
      const entry = configured(req.provider);
      await abuse.signInIp.check(ctx, ctx.values.get(kRequestMeta).ip);
      const checks = { state: oidc.randomState(), nonce: oidc.randomNonce(), codeVerifier: oidc.randomPKCECodeVerifier() };
      let authorizationUrl: URL;
      try {
        authorizationUrl = await entry.client.authorizationUrl(checks);
      } catch (failure) {
        throw new DomainError("unavailable", `${entry.provider.label} cannot be reached right now; try again later`, { cause: failure });
      }
      const flowId = await flows.start({ provider: entry.provider.id, ...checks, returnTo: safeReturnTo(req.returnTo) });
      return { authorizationUrl: authorizationUrl.href, flowId };
    },

    async completeSocialSignIn(req, ctx) {
      const entry = configured(req.provider);
      if (req.callbackQuery.length > MAX_CALLBACK_QUERY) throw invalidArgument(`callback_query is longer than ${MAX_CALLBACK_QUERY} characters`);
      await abuse.signInIp.check(ctx, ctx.values.get(kRequestMeta).ip);
      const query = new URLSearchParams(req.callbackQuery);
      // RFC 6749 10.12: a callback that does not answer this browser's own request is someone else's,
      // an error= included: refused before anything in it is read, and without spending the flow.
      const flow = await flows.takeFlow(req.flowId, { provider: entry.provider.id, state: query.get("state") });
      if (!flow) return refused(ctx, entry.provider.id, "no_flow", invalidArgument(EXPIRED));
      if (flow === "mismatch") {
        return refused(ctx, entry.provider.id, "state_mismatch", invalidArgument(NOT_THIS_SIGN_IN));
      }
      // Before the identity is read: an unlink or erasure committing meanwhile cuts off the session this opens.
      const provenAt = deps.clock.now();
      const identity = await identityFrom(ctx, entry, query, flow);
      const provider = entry.provider.id;
      const key = { provider, issuer: identity.issuer, subject: identity.subject };
      const known = await identities.byKey(key);
      if (known) {
        const user = await deps.users.findById(known.userId);
        if (!user) return refused(ctx, provider, "unknown_account", new DomainError("unauthenticated", NOT_RECOGNISED));
        return signInAs(ctx, user, known, provenAt, flow.returnTo);
      }
      // OIDC Core 5.7: only a verified address may stand for an account; anyone can type an unverified one.
      if (!identity.emailVerified || identity.email === undefined) {
        return refused(ctx, provider, "email_unverified", new DomainError("failed_precondition", `${entry.provider.label} has not verified your email address; verify it there first, or sign up with a password`));
      }
      let email: string;
      try {
        email = normalizeEmail(identity.email);
      } catch {
        return refused(ctx, provider, "email_unusable", new DomainError("failed_precondition", `the email address ${entry.provider.label} gave cannot be used here`));
      }
      const created = await identities.createAccount(email, key);
      if (created) {
        const user = await deps.users.findById(created.userId);
        if (!user) throw new DomainError("unavailable", "the new account is not readable yet; try again");
        await deps.accountWritten(user);
        await audit(ctx, { type: "signup", userId: user.id, details: { method: method(provider) } });
        await audit(ctx, { type: "social.link", userId: user.id, details: { provider, identityId: created.id, proof: "new_account" } });
        return signInAs(ctx, user, created, provenAt, flow.returnTo);
      }
      const owner = await deps.users.findByEmail(email);
      // Taken by another identity's sign-up a moment ago, or a race with this very one: the next try sorts it out.
      if (!owner) throw new DomainError("unavailable", "this sign-in raced another; try again");
      // Never linked on the provider's word alone: whoever controls the account now must agree (its password).
      const linkTicket = await flows.offerLink({ ...key, email, userId: owner.id, returnTo: flow.returnTo });
      await audit(ctx, { type: "social.link_requested", userId: owner.id, details: { provider } });
      return { linkRequired: true, linkTicket, email: owner.email, returnTo: flow.returnTo };
    },

    async linkSocialIdentity(req, ctx) {
      const meta = ctx.values.get(kRequestMeta);
      if ((req.password === "") === (req.mailToken === "")) throw invalidArgument("send exactly one of password and mail_token");
      const byMail = req.mailToken !== "";
      if (byMail) requireAccountToken(req.mailToken);
      else requirePassword("password", req.password);
      await (byMail ? abuse.tokenIp.consume(ctx, meta.ip) : abuse.signInIp.check(ctx, meta.ip));
      const link = await flows.peekLink(req.linkTicket);
      if (!link) throw new DomainError("unauthenticated", EXPIRED);
      const provenAt = deps.clock.now();
      const user = await linkedAccount(ctx, link);
      if (byMail) {
        const expected = link.mailTokenHash === undefined ? undefined : Buffer.from(link.mailTokenHash, "hex");
        const given = hashAccountToken(req.mailToken);
        if (!expected || !timingSafeEqual(expected, given)) return refused(ctx, link.provider, "wrong_mail_token", invalidArgument(BAD_MAIL_TOKEN), user.id);
      } else {
        const locked = await abuse.lockout.lockedFor(user.email, meta.ip);
        if (locked === "capped") throw new DomainError("resource_exhausted", "too many failed sign-ins; reset the password to sign in again");
        if (locked > 0) throw retryLater(ctx, locked);
        // An account without a password (made by a provider) fails here too, after the same argon2 work.
        if (!(await deps.hasher.verify(user.passwordHash, req.password)) || !(await deps.users.holdsCredential(user, user.passwordHash))) {
          await abuse.lockout.recordFailure(user.email);
          return refused(ctx, link.provider, "wrong_password", invalidCredentials(), user.id);
        }
      }
      if (!(await flows.consumeLink(req.linkTicket))) throw new DomainError("unauthenticated", EXPIRED);
      const key = { provider: link.provider, issuer: link.issuer, subject: link.subject };
      // A claim ends the sessions of whoever set the account up before it deletes their factors, so none
      // of them can enrol a new one between the deletes and the revocation after the commit.
      if (byMail && !user.emailVerified) await deps.sessions.revokeCreatedBefore(user.id, deps.clock.now());
      const linked = byMail
        ? await identities.linkByMail(user.id, key, link.email)
        : await identities.link(user.id, key, link.email).then((identity) => identity && { identity, claimed: undefined });
      if (!linked) throw new DomainError("failed_precondition", "this identity was linked to an account meanwhile; sign in with it");
      const { identity, claimed } = linked;
      await audit(ctx, { type: "social.link", userId: user.id, details: { provider: link.provider, identityId: identity.id, proof: byMail ? "mail" : "password", ...(claimed ? { claimed: true } : {}) } });
      if (!claimed) return signInAs(ctx, user, identity, provenAt, link.returnTo);
      // The first proof of the mailbox: every session of whoever set the account up ends, and this
      // one is dated after that end, or it would be born revoked.
      await cacheDroppedThenRevoked(deps.revocations, () => deps.accountWritten(user), claimed);
      return signInAs(ctx, { ...user, emailVerified: true, passwordHash: "" }, identity, deps.clock.now(), link.returnTo);
    },

    async sendSocialLinkMail(req, ctx) {
      const link = await flows.peekLink(req.linkTicket);
      if (!link) throw new DomainError("unauthenticated", EXPIRED);
      const user = await linkedAccount(ctx, link);
      // Mail to the owner on the say-so of whoever holds the ticket: the budgets of every such mail.
      await abuse.mailIp.consume(ctx, ctx.values.get(kRequestMeta).ip);
      await abuse.mailAccount.consume(ctx, user.email);
      const { token, hash } = newAccountToken();
      if (!(await flows.mailed(req.linkTicket, { ...link, mailTokenHash: hash.toString("hex") }))) throw new DomainError("unauthenticated", EXPIRED);
      await deps.queueMail(deps.templates.linkSocialSignIn(user.email, token, deps.linkTtlMs, configured(link.provider).provider.label));
      await audit(ctx, { type: "social.link_mailed", userId: user.id, details: { provider: link.provider } });
      return {};
    },

    async listSocialIdentities(_req, ctx) {
      const caller = await activeCaller(deps, ctx);
      return { identities: (await identities.listForUser(caller.userId)).map(identityOut) };
    },

    async unlinkSocialIdentity(req, ctx) {
      const caller = await activeCaller(deps, ctx);
      if (!IDENTITY_ID.test(req.identityId)) throw invalidArgument("identity_id is not a valid identity id");
      await deps.recentProof.require(ctx, caller, req.currentPassword, "social_unlink");
      const unlinked = await identities.unlink(caller.userId, req.identityId, caller.sessionId);
      if (unlinked.outcome === "not_found") throw new DomainError("not_found", "no such linked identity");
      if (unlinked.outcome === "last_sign_in") throw new DomainError("failed_precondition", "this is your only way to sign in: set a password or add a passkey first");
      const revokedSessions = await deps.revocations.apply(unlinked.revocation);
      await audit(ctx, { type: "social.unlink", userId: caller.userId, details: { identityId: req.identityId, revokedSessions: revokedSessions ?? "pending" } });
      return {};
    },
  };
}
