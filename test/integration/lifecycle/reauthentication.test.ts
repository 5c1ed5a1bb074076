import { Code } from "@connectrpc/connect";
import { Secret, TOTP } from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuthClient, GOOD_PASSWORD, bearer, clientFrom, randomIp, uniqueEmail } from "../../support/auth.js";
import { startMailStack } from "../../support/mail.js";
import { steppingClock } from "../../support/clock.js";
import { codeOf, rejection } from "../../support/rpc-errors.js";

const SIX_MINUTES = 6 * 60_000;

describe("sensitive account changes need a recent proof of the user (ASVS V3.7.1)", () => {
  let stack: Awaited<ReturnType<typeof startMailStack>>;
  const clock = steppingClock();
  const codeAt = (secret: string, offsetMs = 0) => TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: clock.now() + offsetMs });

  beforeAll(async () => {
    stack = await startMailStack({ REAUTH_MAX_AGE: "5m" }, { clock });
  });
  afterAll(async () => stack?.close());

  /** A signed-up user whose email is verified, signed in now. */
  async function verifiedUser(c: AuthClient) {
    const email = uniqueEmail("reauth");
    await c.signUp({ email, password: GOOD_PASSWORD });
    const { token } = await stack.tokenFrom(email, /Confirm your email/);
    await c.verifyEmail({ token });
    const { accessToken, refreshToken } = await c.signIn({ email, password: GOOD_PASSWORD });
    return { email, accessToken, refreshToken };
  }

  it("turning TOTP on with a session older than REAUTH_MAX_AGE needs the current password", async () => {
    const c = clientFrom(stack.auth, randomIp());
    const { refreshToken } = await verifiedUser(c);
    clock.advance(SIX_MINUTES);
    // A refreshed token is a new token for the same old proof: still not recent.
    const { accessToken } = await c.refresh({ refreshToken });
    const stale = await rejection(c.beginTotpEnrollment({}, bearer(accessToken)));
    expect(stale.code).toBe(Code.PermissionDenied);
    expect(stale.rawMessage).toMatch(/recent sign-in/);
    expect(await codeOf(c.beginTotpEnrollment({ currentPassword: "not the password" }, bearer(accessToken)))).toBe(Code.PermissionDenied);
    const { secret } = await c.beginTotpEnrollment({ currentPassword: GOOD_PASSWORD }, bearer(accessToken));
    // The password just given is the recent proof that confirming relies on.
    await expect(c.confirmTotpEnrollment({ code: codeAt(secret) }, bearer(accessToken))).resolves.toMatchObject({ recoveryCodes: expect.any(Array) });
  });

  it("confirming an enrolment begun earlier needs a proof as recent as beginning it", async () => {
    const c = clientFrom(stack.auth, randomIp());
    const { accessToken, refreshToken } = await verifiedUser(c);
    const { secret } = await c.beginTotpEnrollment({}, bearer(accessToken));
    clock.advance(SIX_MINUTES);
    const { accessToken: later } = await c.refresh({ refreshToken });
    expect(await codeOf(c.confirmTotpEnrollment({ code: codeAt(secret) }, bearer(later)))).toBe(Code.PermissionDenied);
  });

  it("TOTP cannot be turned on while the account's email is unverified (no pre-hijack)", async () => {
    const c = clientFrom(stack.auth, randomIp());
    const email = uniqueEmail("prehijack");
    await c.signUp({ email, password: GOOD_PASSWORD });
    const { accessToken } = await c.signIn({ email, password: GOOD_PASSWORD });
    const refused = await rejection(c.beginTotpEnrollment({ currentPassword: GOOD_PASSWORD }, bearer(accessToken)));
    expect(refused.code).toBe(Code.FailedPrecondition);
    expect(refused.rawMessage).toMatch(/verify/);
  });

  it("a reset by mail clears a factor that was confirmed while the email was unverified", async () => {
    const c = clientFrom(stack.auth, randomIp());
    const { email, accessToken } = await verifiedUser(c);
    const { secret } = await c.beginTotpEnrollment({}, bearer(accessToken));
    await c.confirmTotpEnrollment({ code: codeAt(secret) }, bearer(accessToken));
    // As a factor enrolled before this rule existed, on an account whose mailbox nobody had proved.
    await stack.primary.query(
      "UPDATE totp_factors f SET confirmed_unverified = true FROM users u WHERE u.id = f.user_id AND u.email = $1",
      [email],
    );
    expect(await c.signIn({ email, password: GOOD_PASSWORD })).toMatchObject({ mfaRequired: true });
    await c.requestPasswordReset({ email });
    const { token } = await stack.tokenFrom(email, /Reset your password/);
    await c.resetPassword({ token, newPassword: "owner proved the mailbox" });
    await stack.sink.waitFor(email, /TOTP\) was turned off/);
    await expect(c.signIn({ email, password: "owner proved the mailbox" })).resolves.toMatchObject({ mfaRequired: false, tokenType: "Bearer" });
  });

  it("a factor confirmed on a verified account survives a reset", async () => {
    const c = clientFrom(stack.auth, randomIp());
    const { email, accessToken } = await verifiedUser(c);
    const { secret } = await c.beginTotpEnrollment({}, bearer(accessToken));
    await c.confirmTotpEnrollment({ code: codeAt(secret) }, bearer(accessToken));
    await c.requestPasswordReset({ email });
    const { token } = await stack.tokenFrom(email, /Reset your password/);
    await c.resetPassword({ token, newPassword: "owner proved the mailbox" });
    expect(await c.signIn({ email, password: "owner proved the mailbox" })).toMatchObject({ mfaRequired: true });
  });
});

describe("a stolen token buys few password guesses through the re-authentication checks", () => {
  let stack: Awaited<ReturnType<typeof startMailStack>>;
  beforeAll(async () => {
    stack = await startMailStack({ RATE_LIMIT_SIGNIN_IP: "3/15m" });
  });
  afterAll(async () => stack?.close());

  it("wrong current passwords spend the sign-in budget of the IP, like failed sign-ins", async () => {
    const ip = randomIp();
    const c = clientFrom(stack.auth, ip);
    const email = uniqueEmail("guesses");
    await c.signUp({ email, password: GOOD_PASSWORD });
    const { accessToken } = await c.signIn({ email, password: GOOD_PASSWORD });
    for (let i = 0; i < 3; i++) {
      expect(await codeOf(c.changePassword({ currentPassword: `guess ${i}`, newPassword: "a new passphrase" }, bearer(accessToken)))).toBe(Code.PermissionDenied);
    }
    const limited = await rejection(c.changePassword({ currentPassword: GOOD_PASSWORD, newPassword: "a new passphrase" }, bearer(accessToken)));
    expect(limited.code).toBe(Code.ResourceExhausted);
    expect(await codeOf(c.changeEmail({ currentPassword: "guess", newEmail: uniqueEmail("elsewhere") }, bearer(accessToken)))).toBe(Code.ResourceExhausted);
  });
});
