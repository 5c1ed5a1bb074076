import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type RegistrationResponseJSON,
} from "@simplewebauthn/server";
import type { PasskeyService } from "../../gen/auth/v1/passkeys_pb.js";
import type { Clock } from "../../platform/clock.js";
import { DomainError, invalidArgument } from "../../platform/errors.js";
import { kRequestMeta } from "../../platform/request-context.js";
import type { AbuseProtection } from "../abuse/abuse-protection.js";
import { activeCaller } from "../active-caller.js";
import type { RequestAudit } from "../audit/request-audit.js";
import type { Authenticator } from "../authenticate.js";
import type { SecondFactor } from "../mfa/second-factor.js";
import type { PendingSignIn, SignInChallenges } from "../mfa/sign-in-challenges.js";
import type { RecentProof } from "../recent-proof.js";
import { sessionOpenedBy, type DeviceOf } from "../sessions/device-of.js";
import type { SessionStore } from "../sessions/session-store.js";
import type { AccessTokens } from "../tokens/access-tokens.js";
import { tokenPair } from "../tokens/token-pair.js";
import type { UserStore } from "../users/user-store.js";
import type { PasskeyStore, StoredPasskey } from "./passkey-store.js";
import type { ChallengePurpose, WebAuthnChallenges } from "./webauthn-challenges.js";

export interface RelyingParty {
  /** The RP ID: PUBLIC_BASE_URL's host name (WebAuthn Level 3, 5.1.4). */
  id: string;
  /** Shown by the authenticator: MFA_ISSUER. */
  name: string;
  /** PUBLIC_BASE_URL's origin: the only origin whose responses are accepted (clientDataJSON.origin). */
  origin: string;
}

export interface PasskeyServiceDeps {
  users: Pick<UserStore, "findById">;
  store: PasskeyStore;
  challenges: WebAuthnChallenges;
  signIns: Pick<SignInChallenges, "get" | "claim" | "release" | "consume" | "fail">;
  secondFactor: Pick<SecondFactor, "required">;
  sessions: SessionStore;
  tokens: AccessTokens;
  authenticator: Authenticator;
  abuse: AbuseProtection;
  audit: RequestAudit;
  deviceOf: DeviceOf;
  recentProof: RecentProof;
  clock: Clock;
  rp: RelyingParty;
}

// A registration response with "none" attestation is about 1 KB; an assertion less.
const MAX_RESPONSE_JSON = 16 * 1024;
const MAX_NAME = 64;
const PASSKEY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const NOT_RECOGNISED = "passkey not recognised; sign in with your password";

interface CredentialJson {
  id: string;
  challenge: string;
}

/** The response's credential id and the challenge its clientDataJSON signs, or INVALID_ARGUMENT naming what is wrong. */
function parseResponse(json: string): { parsed: unknown } & CredentialJson {
  if (json === "") throw invalidArgument("response_json is required");
  if (json.length > MAX_RESPONSE_JSON) throw invalidArgument(`response_json is longer than ${MAX_RESPONSE_JSON} characters`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw invalidArgument("response_json is not JSON");
  }
  const body = parsed as { id?: unknown; type?: unknown; response?: { clientDataJSON?: unknown } };
  if (typeof body !== "object" || body === null || typeof body.id !== "string" || !BASE64URL.test(body.id) || body.id.length > 1024) {
    throw invalidArgument("response_json.id must be a base64url credential id");
  }
  if (body.type !== "public-key") throw invalidArgument('response_json.type must be "public-key"');
  const clientData = body.response?.clientDataJSON;
  if (typeof clientData !== "string" || !BASE64URL.test(clientData)) throw invalidArgument("response_json.response.clientDataJSON must be base64url");
  let challenge: unknown;
  try {
    challenge = (JSON.parse(Buffer.from(clientData, "base64url").toString("utf8")) as { challenge?: unknown }).challenge;
  } catch {
    throw invalidArgument("response_json.response.clientDataJSON is not JSON");
  }
  if (typeof challenge !== "string") throw invalidArgument("clientDataJSON has no challenge");
  return { parsed, id: body.id, challenge };
}

function passkeyName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === "") return "Passkey";
  if ([...trimmed].length > MAX_NAME) throw invalidArgument(`name is longer than ${MAX_NAME} characters`);
  if (/[\p{Cc}\p{Cf}]/u.test(trimmed)) throw invalidArgument("name must not contain control or format characters");
  return trimmed;
}

const passkeyOut = (p: StoredPasskey) => ({
  passkeyId: p.id,
  name: p.name,
  createdAt: timestampFromDate(p.createdAt),
  ...(p.lastUsedAt ? { lastUsedAt: timestampFromDate(p.lastUsedAt) } : {}),
  deviceType: p.deviceType,
  backedUp: p.backedUp,
});

export function createPasskeyService(deps: PasskeyServiceDeps): ServiceImpl<typeof PasskeyService> {
  const { store, challenges, rp, audit, abuse } = deps;
  const TAKEN = "this passkey challenge was already used or has expired; start again";

  /** Takes the challenge the response signed: once only, for the purpose it was issued for. */
  async function takeChallenge(challenge: string, kind: ChallengePurpose["kind"]): Promise<ChallengePurpose> {
    const purpose = await challenges.take(challenge);
    if (!purpose || purpose.kind !== kind) throw new DomainError("unauthenticated", TAKEN);
    return purpose;
  }

  async function failedAssertion(ctx: HandlerContext, userId: string | undefined, reason: string): Promise<never> {
    await abuse.signInIp.penalize(ctx.values.get(kRequestMeta).ip);
    if (userId) await abuse.mfaAccount.penalize(userId);
    await audit(ctx, { type: "passkey.failure", userId, details: { reason } });
    throw new DomainError("unauthenticated", NOT_RECOGNISED);
  }

  /** Verifies an assertion against its stored credential and records the use (sign count, backup state). */
  async function verifyAssertion(ctx: HandlerContext, parsed: unknown, challenge: string, passkey: StoredPasskey | undefined) {
    if (!passkey) return failedAssertion(ctx, undefined, "unknown_credential");
    let info;
    try {
      const verified = await verifyAuthenticationResponse({
        response: parsed as AuthenticationResponseJSON,
        expectedChallenge: challenge,
        expectedOrigin: rp.origin,
        expectedRPID: rp.id,
        credential: { id: passkey.credentialId, publicKey: passkey.publicKey, counter: passkey.signCount, transports: passkey.transports },
        requireUserVerification: false,
      });
      if (!verified.verified) return failedAssertion(ctx, passkey.userId, "bad_signature");
      info = verified.authenticationInfo;
    } catch (error) {
      // A counter that did not rise is the WebAuthn sign of a cloned authenticator (Level 3, 6.1.1).
      const reason = error instanceof Error && /counter/i.test(error.message) ? "sign_count_replayed" : "invalid_assertion";
      return failedAssertion(ctx, passkey.userId, reason);
    }
    // Conditional on the count read above: of two concurrent uses of one assertion, one records.
    if (!(await store.recordUse(passkey.id, passkey.signCount, info.newCounter, { deviceType: info.credentialDeviceType, backedUp: info.credentialBackedUp }))) {
      return failedAssertion(ctx, passkey.userId, "sign_count_replayed");
    }
    return info;
  }

  async function openSession(ctx: HandlerContext, userId: string, mfa: boolean, provenAt: number, factor: string) {
    const meta = ctx.values.get(kRequestMeta);
    const user = await deps.users.findById(userId);
    if (!user || user.disabled) throw new DomainError("unauthenticated", NOT_RECOGNISED);
    const issued = await deps.sessions.create(sessionOpenedBy(meta, deps.deviceOf, { userId, secondFactor: mfa, emailVerified: user.emailVerified, provenAt }));
    await audit(ctx, { type: "signin.success", userId, details: { sessionId: issued.session.id, factor } });
    return tokenPair(deps.tokens, issued);
  }

  async function pendingSignIn(mfaChallenge: string): Promise<PendingSignIn> {
    const pending = await deps.signIns.get(mfaChallenge);
    if (!pending) throw new DomainError("unauthenticated", "sign-in challenge is invalid or expired; sign in again");
    return pending;
  }

  return {
    async beginPasskeyRegistration(req, ctx) {
      const caller = await activeCaller(deps, ctx);
      // As for TOTP: whoever signed up first with someone else's address must not keep a way in after the owner resets it.
      if (!caller.user.emailVerified) throw new DomainError("failed_precondition", "verify your email address before adding a passkey");
      await deps.recentProof.require(ctx, caller, req.currentPassword, "passkey_registration");
      const existing = await store.listForUser(caller.userId);
      const options = await generateRegistrationOptions({
        rpName: rp.name,
        rpID: rp.id,
        userName: caller.user.email,
        userID: new TextEncoder().encode(caller.userId),
        attestationType: "none",
        excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports })),
        // Discoverable, so the passkey alone can sign in (no email typed first).
        authenticatorSelection: { residentKey: "required", userVerification: "preferred" },
      });
      await challenges.issue(options.challenge, { kind: "register", userId: caller.userId, sessionId: caller.sessionId });
      return { optionsJson: JSON.stringify(options) };
    },

    async finishPasskeyRegistration(req, ctx) {
      const caller = await activeCaller(deps, ctx);
      const name = passkeyName(req.name);
      const response = parseResponse(req.responseJson);
      const purpose = await takeChallenge(response.challenge, "register");
      // The challenge was issued to this very session: another session of the user cannot finish it.
      if (purpose.kind !== "register" || purpose.userId !== caller.userId || purpose.sessionId !== caller.sessionId) {
        throw new DomainError("unauthenticated", TAKEN);
      }
      let verified;
      try {
        verified = await verifyRegistrationResponse({
          response: response.parsed as RegistrationResponseJSON,
          expectedChallenge: response.challenge,
          expectedOrigin: rp.origin,
          expectedRPID: rp.id,
          requireUserVerification: false,
        });
      } catch (error) {
        throw invalidArgument(`passkey could not be verified: ${error instanceof Error ? error.message : "malformed response"}`);
      }
      if (!verified.verified) throw invalidArgument("passkey could not be verified");
      const info = verified.registrationInfo;
      const added = await store.add({
        userId: caller.userId,
        credentialId: info.credential.id,
        publicKey: info.credential.publicKey,
        signCount: info.credential.counter,
        transports: info.credential.transports ?? [],
        deviceType: info.credentialDeviceType,
        backedUp: info.credentialBackedUp,
        name,
      });
      if (!added) throw new DomainError("failed_precondition", "this passkey is already registered");
      await audit(ctx, { type: "passkey.added", userId: caller.userId, details: { passkeyId: added.id, backedUp: added.backedUp } });
      return { passkey: passkeyOut(added) };
    },

    async listPasskeys(_req, ctx) {
      const caller = await activeCaller(deps, ctx);
      return { passkeys: (await store.listForUser(caller.userId)).map(passkeyOut) };
    },

    async deletePasskey(req, ctx) {
      const caller = await activeCaller(deps, ctx);
      if (!PASSKEY_ID.test(req.passkeyId)) throw invalidArgument("passkey_id is not a valid passkey id");
      await deps.recentProof.require(ctx, caller, req.currentPassword, "passkey_removal");
      if (!(await store.remove(caller.userId, req.passkeyId))) throw new DomainError("not_found", "no such passkey");
      await audit(ctx, { type: "passkey.removed", userId: caller.userId, details: { passkeyId: req.passkeyId } });
      return {};
    },

    async beginPasskeySignIn(req, ctx) {
      await abuse.signInIp.check(ctx, ctx.values.get(kRequestMeta).ip);
      if (req.mfaChallenge === "") {
        const options = await generateAuthenticationOptions({ rpID: rp.id, userVerification: "preferred" });
        await challenges.issue(options.challenge, { kind: "signin" });
        return { optionsJson: JSON.stringify(options) };
      }
      const pending = await pendingSignIn(req.mfaChallenge);
      const mine = await store.listForUser(pending.userId);
      if (mine.length === 0) throw new DomainError("failed_precondition", "this account has no passkey; enter a code instead");
      const options = await generateAuthenticationOptions({
        rpID: rp.id,
        userVerification: "preferred",
        allowCredentials: mine.map((p) => ({ id: p.credentialId, transports: p.transports })),
      });
      await challenges.issue(options.challenge, { kind: "second_factor", mfaChallenge: req.mfaChallenge });
      return { optionsJson: JSON.stringify(options) };
    },

    async completePasskeySignIn(req, ctx) {
      const response = parseResponse(req.responseJson);
      await abuse.signInIp.check(ctx, ctx.values.get(kRequestMeta).ip);
      // Taken before the credential is read: a password change committing meanwhile ends this session too.
      const provenAt = deps.clock.now();
      if (req.mfaChallenge === "") {
        await takeChallenge(response.challenge, "signin");
        const passkey = await store.byCredentialId(response.id);
        const info = await verifyAssertion(ctx, response.parsed, response.challenge, passkey);
        const owner = passkey as StoredPasskey;
        // Without user verification a passkey is one factor, possession: not enough where the account asks for two.
        if (!info.userVerified && (await deps.secondFactor.required(owner.userId))) {
          return failedAssertion(ctx, owner.userId, "user_not_verified");
        }
        return openSession(ctx, owner.userId, info.userVerified, provenAt, "passkey");
      }
      const purpose = await takeChallenge(response.challenge, "second_factor");
      if (purpose.kind !== "second_factor" || purpose.mfaChallenge !== req.mfaChallenge) throw new DomainError("unauthenticated", TAKEN);
      const pending = await pendingSignIn(req.mfaChallenge);
      await abuse.mfaAccount.check(ctx, pending.userId);
      if (!(await deps.signIns.claim(req.mfaChallenge))) throw new DomainError("unauthenticated", "this sign-in is being completed by another request");
      try {
        const passkey = await store.byCredentialId(response.id);
        // Someone else's passkey proves nothing about this sign-in.
        await verifyAssertion(ctx, response.parsed, response.challenge, passkey?.userId === pending.userId ? passkey : undefined);
      } catch (error) {
        await deps.signIns.fail(req.mfaChallenge);
        await deps.signIns.release(req.mfaChallenge);
        throw error;
      }
      if (!(await deps.signIns.consume(req.mfaChallenge))) throw new DomainError("unauthenticated", "sign-in challenge is invalid or expired; sign in again");
      await abuse.lockout.recordSuccess(pending.email, ctx.values.get(kRequestMeta).ip);
      return openSession(ctx, pending.userId, true, pending.provenAt, "passkey");
    },
  };
}
