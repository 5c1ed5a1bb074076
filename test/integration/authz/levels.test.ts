import { Secret, TOTP } from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, bearer, clientFrom, randomIp, uniqueEmail } from "../../support/auth.js";
import { type TestAuthz, headerOf, startTestAuthz } from "../../support/authz.js";
import { startMailStack } from "../../support/mail.js";
import { browserSignIn, cookieBrowser, csrfOf } from "../../support/browser.js";
import { steppingClock } from "../../support/clock.js";

const INSUFFICIENT = { denied: "Forbidden", reason: "insufficient_level" };

const asToken = (accessToken: string) => ({ authorization: `Bearer ${accessToken}` });
const asCookie = (cookie: string) => ({ cookie: `auth_session=${cookie}` });
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString());

describe("route levels: a verified email, a second factor", () => {
  let stack: Awaited<ReturnType<typeof startMailStack>>;
  let authz: TestAuthz;
  const clock = steppingClock();

  beforeAll(async () => {
    stack = await startMailStack({}, { clock });
    // A long cache TTL, so only the session.changed event can explain a cookie passing right after VerifyEmail.
    authz = await startTestAuthz(stack.auth, { AUTHZ_LEVEL_RULES: "/example/verified/=verified,/example/mfa/=mfa", AUTHZ_CACHE_TTL: "60s" });
  });
  afterAll(async () => {
    await authz?.close();
    await stack?.close();
  });

  /** The level granted on `path`, or the deny's status and reason. */
  async function outcome(path: string, headers: Record<string, string>) {
    const response = await authz.check({ path, headers });
    return response.status.code === 0
      ? { level: headerOf(response, "x-auth-level") }
      : { denied: response.denied_response?.status.code, reason: headerOf(response, "x-auth-reason") };
  }

  /** As `outcome`, waiting up to 1 s for an allow: the change event reaches the gateway just after the RPC returns. */
  async function outcomeOnceAllowed(path: string, headers: Record<string, string>) {
    const started = performance.now();
    for (;;) {
      const result = await outcome(path, headers);
      if ("level" in result || performance.now() - started > 1000) return result;
    }
  }

  async function signedUp() {
    const client = clientFrom(stack.auth, randomIp());
    const email = uniqueEmail("levels");
    await client.signUp({ email, password: GOOD_PASSWORD });
    const verifyEmail = async () => client.verifyEmail({ token: (await stack.tokenFrom(email, /Confirm your email/)).token });
    return { client, email, verifyEmail };
  }

  it("VerifyEmail lifts a live cookie session at once, and a token at its next Refresh", async () => {
    const { client, email, verifyEmail } = await signedUp();
    const signedIn = await client.signIn({ email, password: GOOD_PASSWORD });
    const cookie = await browserSignIn(stack.auth.server.url, email, GOOD_PASSWORD);
    for (const headers of [asToken(signedIn.accessToken), asCookie(cookie)]) {
      // Also caches the basic session, which the change event must then displace.
      expect(await outcome("/example/hello", headers)).toEqual({ level: "basic" });
      expect(await outcome("/example/verified/page", headers)).toEqual(INSUFFICIENT);
    }

    await verifyEmail();
    expect(await outcomeOnceAllowed("/example/verified/page", asCookie(cookie))).toEqual({ level: "verified" });
    // A token states the level it was issued with.
    expect(await outcome("/example/verified/page", asToken(signedIn.accessToken))).toEqual(INSUFFICIENT);
    const refreshed = await client.refresh({ refreshToken: signedIn.refreshToken });
    expect(claimsOf(refreshed.accessToken)).toMatchObject({ acr: "basic", email_verified: true });
    expect(await outcome("/example/verified/page", asToken(refreshed.accessToken))).toEqual({ level: "verified" });

    for (const headers of [asToken(refreshed.accessToken), asCookie(cookie)]) {
      expect(await outcome("/example/mfa/page", headers)).toEqual(INSUFFICIENT);
    }
  });

  it("mfa needs a session opened with the second factor and a verified email", async () => {
    const { client, email, verifyEmail } = await signedUp();
    const passwordOnly = await client.signIn({ email, password: GOOD_PASSWORD });
    // Enrolment needs a verified email now; an account that enrolled before that rule, and whose
    // email is still unverified, is made here in the database.
    const setVerified = (verified: boolean) => stack.primary.query("UPDATE users SET email_verified = $2 WHERE email = $1", [email, verified]);
    await setVerified(true);
    const { secret } = await client.beginTotpEnrollment({}, bearer(passwordOnly.accessToken));
    const code = () => TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: clock.now() });
    await client.confirmTotpEnrollment({ code: code() }, bearer(passwordOnly.accessToken));
    await setVerified(false);
    clock.advance(30_000);

    const { mfaChallenge } = await client.signIn({ email, password: GOOD_PASSWORD });
    const secondFactor = await client.completeSignIn({ challenge: mfaChallenge, code: code() });
    expect(claimsOf(secondFactor.accessToken)).toMatchObject({ acr: "mfa", email_verified: false });
    expect(await outcome("/example/verified/page", asToken(secondFactor.accessToken))).toEqual(INSUFFICIENT);
    expect(await outcome("/example/mfa/page", asToken(secondFactor.accessToken))).toEqual(INSUFFICIENT);

    await verifyEmail();
    const mfa = await client.refresh({ refreshToken: secondFactor.refreshToken });
    expect(await outcome("/example/mfa/page", asToken(mfa.accessToken))).toEqual({ level: "mfa" });
    expect(await outcome("/example/verified/page", asToken(mfa.accessToken))).toEqual({ level: "mfa" });
    const password = await client.refresh({ refreshToken: passwordOnly.refreshToken });
    expect(await outcome("/example/verified/page", asToken(password.accessToken))).toEqual({ level: "verified" });
    expect(await outcome("/example/mfa/page", asToken(password.accessToken))).toEqual(INSUFFICIENT);

    // The hosted page's code step is CompleteSignIn as well, so its cookie proves mfa.
    clock.advance(30_000);
    const browser = cookieBrowser(stack.auth.server.url);
    const csrf = csrfOf(await (await browser.get("/signin?return_to=/example/mfa/")).text());
    const step = await browser.post("/signin", { email, password: GOOD_PASSWORD, csrf, return_to: "/example/mfa/" });
    const challenge = /name="challenge" value="([^"]+)"/.exec(await step.text())?.[1] ?? "";
    expect((await browser.post("/signin/code", { csrf, challenge, code: code(), return_to: "/example/mfa/" })).status).toBe(303);
    expect(await outcome("/example/mfa/page", asCookie(browser.jar.get("auth_session") ?? ""))).toEqual({ level: "mfa" });
  });
});
