import { Code } from "@connectrpc/connect";
import { Secret, TOTP } from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuthClient, GOOD_PASSWORD, type TestAuth, bearer, clientFrom, randomIp, uniqueEmail } from "../../support/auth.js";
import { startMailStack } from "../../support/mail.js";
import { codeOf, rejection } from "../../support/rpc-errors.js";
import { steppingClock } from "../../support/clock.js";
import { REDIS_SHAPES, redisEnv } from "../../support/redis-matrix.js";

describe.each(REDIS_SHAPES)("TOTP MFA with recovery codes (redis %s)", (shape) => {
  let stack: Awaited<ReturnType<typeof startMailStack>>;
  let second: TestAuth;
  const clock = steppingClock();
  const codeAt = (secret: string, offsetMs = 0) => TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: clock.now() + offsetMs });

  beforeAll(async () => {
    stack = await startMailStack({ ...redisEnv(shape), MFA_CHALLENGE_ATTEMPTS: "3", RATE_LIMIT_MFA_ACCOUNT: "8/15m" }, { clock });
    second = await stack.startPeer({ clock });
  });
  afterAll(async () => {
    await stack?.close();
  });

  /** A user with TOTP on, signed in on `a`; the step of the confirming code is spent. */
  async function enrolled(a: AuthClient) {
    const email = uniqueEmail("mfa");
    await a.signUp({ email, password: GOOD_PASSWORD });
    // Enrolment needs a proved mailbox.
    await a.verifyEmail({ token: (await stack.tokenFrom(email, /Confirm your email/)).token });
    const { accessToken } = await a.signIn({ email, password: GOOD_PASSWORD });
    const { secret, otpauthUri } = await a.beginTotpEnrollment({}, bearer(accessToken));
    expect(otpauthUri).toMatch(/^otpauth:\/\/totp\/.*secret=/);
    expect(await codeOf(a.confirmTotpEnrollment({ code: "000000" === codeAt(secret) ? "111111" : "000000" }, bearer(accessToken)))).toBe(
      Code.InvalidArgument,
    );
    const { recoveryCodes } = await a.confirmTotpEnrollment({ code: codeAt(secret) }, bearer(accessToken));
    return { email, secret, recoveryCodes, accessToken };
  }

  it("enrolment stores the secret encrypted, returns ten recovery codes and notifies the owner", async () => {
    const a = clientFrom(stack.auth, randomIp());
    const { email, secret, recoveryCodes, accessToken } = await enrolled(a);
    expect(recoveryCodes).toHaveLength(10);
    const row = await stack.primary.query(
      "SELECT f.secret_enc, f.confirmed_at FROM totp_factors f JOIN users u ON u.id = f.user_id WHERE u.email = $1",
      [email],
    );
    expect(row.rows[0].confirmed_at).not.toBeNull();
    expect(row.rows[0].secret_enc.toString("latin1")).not.toContain(secret);
    expect(Buffer.from(row.rows[0].secret_enc).includes(Buffer.from(Secret.fromBase32(secret).bytes))).toBe(false);
    await stack.sink.waitFor(email, /TOTP\) was turned on/);
    expect(await codeOf(a.beginTotpEnrollment({}, bearer(accessToken)))).toBe(Code.FailedPrecondition);
  });

  it("SignIn then asks for the second factor; the challenge is no access token", async () => {
    const a = clientFrom(stack.auth, randomIp());
    const { email, secret } = await enrolled(a);
    const first = await a.signIn({ email, password: GOOD_PASSWORD });
    expect(first).toMatchObject({ mfaRequired: true, accessToken: "", refreshToken: "" });
    expect(first.mfaChallenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await codeOf(a.getMe({}, bearer(first.mfaChallenge)))).toBe(Code.Unauthenticated);
    expect(await codeOf(a.signOutAll({}, bearer(first.mfaChallenge)))).toBe(Code.Unauthenticated);

    const done = await a.completeSignIn({ challenge: first.mfaChallenge, code: codeAt(secret, 30_000) });
    expect((await a.getMe({}, bearer(done.accessToken))).user?.email).toBe(email);
    expect(await codeOf(a.completeSignIn({ challenge: first.mfaChallenge, code: codeAt(secret, 30_000) }))).toBe(Code.Unauthenticated);
  });

  it("a TOTP code is accepted once, even when the replay hits another instance", async () => {
    const a = clientFrom(stack.auth, randomIp());
    const b = clientFrom(second, randomIp());
    const { email, secret } = await enrolled(a);
    clock.advance(30_000);
    const code = codeAt(secret);
    const onA = await a.signIn({ email, password: GOOD_PASSWORD });
    const onB = await b.signIn({ email, password: GOOD_PASSWORD });
    const results = await Promise.allSettled([
      a.completeSignIn({ challenge: onA.mfaChallenge, code }),
      b.completeSignIn({ challenge: onB.mfaChallenge, code }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const again = await b.signIn({ email, password: GOOD_PASSWORD });
    expect(await codeOf(b.completeSignIn({ challenge: again.mfaChallenge, code }))).toBe(Code.Unauthenticated);
  });

  it("recovery codes work once each", async () => {
    const a = clientFrom(stack.auth, randomIp());
    const { email, recoveryCodes } = await enrolled(a);
    const [code] = recoveryCodes;
    const first = await a.signIn({ email, password: GOOD_PASSWORD });
    await expect(a.completeSignIn({ challenge: first.mfaChallenge, code: code!.toUpperCase() })).resolves.toMatchObject({ tokenType: "Bearer" });
    const again = await a.signIn({ email, password: GOOD_PASSWORD });
    expect(await codeOf(a.completeSignIn({ challenge: again.mfaChallenge, code: code! }))).toBe(Code.Unauthenticated);
  });

  it("wrong codes void the challenge, and are limited per account across challenges", async () => {
    const a = clientFrom(stack.auth, randomIp());
    const { email, secret } = await enrolled(a);
    const { mfaChallenge } = await a.signIn({ email, password: GOOD_PASSWORD });
    const wrong = codeAt(secret) === "123456" ? "654321" : "123456";
    expect((await rejection(a.completeSignIn({ challenge: mfaChallenge, code: wrong }))).rawMessage).toBe("invalid code");
    await codeOf(a.completeSignIn({ challenge: mfaChallenge, code: wrong }));
    expect((await rejection(a.completeSignIn({ challenge: mfaChallenge, code: wrong }))).rawMessage).toMatch(/sign-in has ended/);
    expect(await codeOf(a.completeSignIn({ challenge: mfaChallenge, code: codeAt(secret, 30_000) }))).toBe(Code.Unauthenticated);

    // 3 spent above; 5 more on fresh challenges (each from its own IP) spend the account's 8.
    for (let i = 0; i < 5; i++) {
      const c = clientFrom(stack.auth, randomIp());
      const next = await c.signIn({ email, password: GOOD_PASSWORD });
      await codeOf(c.completeSignIn({ challenge: next.mfaChallenge, code: wrong }));
    }
    const c = clientFrom(stack.auth, randomIp());
    const last = await c.signIn({ email, password: GOOD_PASSWORD });
    const limited = await rejection(c.completeSignIn({ challenge: last.mfaChallenge, code: codeAt(secret, 30_000) }));
    expect(limited.code).toBe(Code.ResourceExhausted);
    expect(limited.metadata.get("retry-after")).toMatch(/^\d+$/);
  });

  it("a password reset does not bypass the second factor", async () => {
    const a = clientFrom(stack.auth, randomIp());
    const { email } = await enrolled(a);
    await a.requestPasswordReset({ email });
    const { token } = await stack.tokenFrom(email, /Reset your password/);
    await a.resetPassword({ token, newPassword: "after the reset passphrase" });
    const next = await a.signIn({ email, password: "after the reset passphrase" });
    expect(next).toMatchObject({ mfaRequired: true, accessToken: "" });
  });

  it("DisableTotp needs a fresh second factor, then sign-in needs only the password", async () => {
    const a = clientFrom(stack.auth, randomIp());
    const { email, secret, accessToken } = await enrolled(a);
    expect(await codeOf(a.disableTotp({ code: "" }, bearer(accessToken)))).toBe(Code.InvalidArgument);
    const stale = codeAt(secret);
    expect(await codeOf(a.disableTotp({ code: stale }, bearer(accessToken)))).toBe(Code.PermissionDenied);
    await a.disableTotp({ code: codeAt(secret, 30_000) }, bearer(accessToken));
    await stack.sink.waitFor(email, /TOTP\) was turned off/);
    await expect(a.signIn({ email, password: GOOD_PASSWORD })).resolves.toMatchObject({ mfaRequired: false, tokenType: "Bearer" });

    const types = await stack.primary.query(
      "SELECT a.type FROM audit_events a JOIN users u ON u.id = a.user_id WHERE u.email = $1 ORDER BY a.id",
      [email],
    );
    expect(types.rows.map((r) => r.type)).toEqual(
      expect.arrayContaining(["mfa.enrollment_started", "mfa.failure", "mfa.enabled", "mfa.disabled"]),
    );
  });
});
