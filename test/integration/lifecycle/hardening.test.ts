import { Code } from "@connectrpc/connect";
import { Secret, TOTP } from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, bearer, clientFrom, randomIp, uniqueEmail } from "../../support/auth.js";
import { startMailStack } from "../../support/mail.js";
import { codeOf, rejection } from "../../support/rpc-errors.js";

describe("sign-in hardening", () => {
  let stack: Awaited<ReturnType<typeof startMailStack>>;

  beforeAll(async () => {
    stack = await startMailStack({
      // The progressive lock out of the way, so what refuses below is the hard cap alone.
      LOCKOUT_THRESHOLD: "1000",
      LOCKOUT_HARD_CAP: "4",
      RATE_LIMIT_SIGNUP_IP: "2/1h",
      RATE_LIMIT_MAIL_ACCOUNT: "100/1h",
    });
  });
  afterAll(async () => stack?.close());

  it("after LOCKOUT_HARD_CAP consecutive failures even the owner's known device needs another proof: a reset by mail (NIST 800-63B 5.2.2)", async () => {
    const email = uniqueEmail("capped");
    const owner = clientFrom(stack.auth, randomIp());
    await owner.signUp({ email, password: GOOD_PASSWORD });
    await owner.signIn({ email, password: GOOD_PASSWORD });
    for (let i = 0; i < 4; i++) expect(await codeOf(clientFrom(stack.auth, randomIp()).signIn({ email, password: `guess ${i}` }))).toBe(Code.Unauthenticated);
    const capped = await rejection(owner.signIn({ email, password: GOOD_PASSWORD }));
    expect(capped.code).toBe(Code.ResourceExhausted);
    expect(capped.rawMessage).toMatch(/reset/);
    // An unknown address is capped alike: the refusal reveals nothing.
    const nobody = uniqueEmail("nobody");
    for (let i = 0; i < 4; i++) await codeOf(clientFrom(stack.auth, randomIp()).signIn({ email: nobody, password: `guess ${i}` }));
    expect((await rejection(clientFrom(stack.auth, randomIp()).signIn({ email: nobody, password: "guess" }))).rawMessage).toBe(capped.rawMessage);

    await owner.requestPasswordReset({ email });
    const { token } = await stack.tokenFrom(email, /Reset your password/);
    await owner.resetPassword({ token, newPassword: "a proof by mailbox" });
    await expect(owner.signIn({ email, password: "a proof by mailbox" })).resolves.toMatchObject({ tokenType: "Bearer" });
  });

  it("per-IP budgets count an IPv6 client by its /64", async () => {
    const sameNetwork = ["2001:db8:7:42::1", "2001:db8:7:42:ffff::2", "2001:db8:7:42:1:2:3:4"];
    const signUpFrom = (ip: string) => clientFrom(stack.auth, ip).signUp({ email: uniqueEmail("v6"), password: GOOD_PASSWORD });
    await signUpFrom(sameNetwork[0]!);
    await signUpFrom(sameNetwork[1]!);
    expect(await codeOf(signUpFrom(sameNetwork[2]!))).toBe(Code.ResourceExhausted);
    // Another /64 has a budget of its own.
    await expect(signUpFrom("2001:db8:7:43::1")).resolves.toBeDefined();
  });

  it("two concurrent CompleteSignIn with different recovery codes: one session, and the other code still works", async () => {
    const email = uniqueEmail("race");
    const c = clientFrom(stack.auth, randomIp());
    await c.signUp({ email, password: GOOD_PASSWORD });
    await c.verifyEmail({ token: (await stack.tokenFrom(email, /Confirm your email/)).token });
    const { accessToken } = await c.signIn({ email, password: GOOD_PASSWORD });
    const { secret } = await c.beginTotpEnrollment({}, bearer(accessToken));
    const { recoveryCodes } = await c.confirmTotpEnrollment({ code: TOTP.generate({ secret: Secret.fromBase32(secret) }) }, bearer(accessToken));
    const [first, second] = recoveryCodes as [string, string];
    const { mfaChallenge } = await c.signIn({ email, password: GOOD_PASSWORD });
    const results = await Promise.allSettled([
      c.completeSignIn({ challenge: mfaChallenge, code: first }),
      c.completeSignIn({ challenge: mfaChallenge, code: second }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const loser = results[0]!.status === "fulfilled" ? second : first;
    const again = await c.signIn({ email, password: GOOD_PASSWORD });
    await expect(c.completeSignIn({ challenge: again.mfaChallenge, code: loser })).resolves.toMatchObject({ tokenType: "Bearer" });
  });
});
