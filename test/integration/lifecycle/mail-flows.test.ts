import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, bearer, clientFrom, randomIp, uniqueEmail } from "../../support/auth.js";
import { startMailStack } from "../../support/mail.js";
import { codeOf, rejection } from "../../support/rpc-errors.js";

const NEW_PASSWORD = "a brand new passphrase";

describe("email verification and password reset (outbox, worker, SMTP)", () => {
  let stack: Awaited<ReturnType<typeof startMailStack>>;

  beforeAll(async () => {
    stack = await startMailStack({ PUBLIC_BASE_URL: "https://id.example.com/", LOCKOUT_THRESHOLD: "2", RATE_LIMIT_MAIL_ACCOUNT: "3/1h", RATE_LIMIT_MAIL_RESET: "3/1h" });
  });
  afterAll(async () => stack?.close());

  const client = () => clientFrom(stack.auth, randomIp());

  it("sign-up mails a verification link from PUBLIC_BASE_URL; the token verifies once", async () => {
    const email = uniqueEmail("verify");
    const c = client();
    await c.signUp({ email, password: GOOD_PASSWORD }, { headers: { host: "evil.example.net" } });
    const { token, mail } = await stack.tokenFrom(email, /Confirm your email/);
    expect(mail.text).toContain(`https://id.example.com/verify-email#token=${token}`);
    expect(mail.text).not.toContain("evil.example.net");

    await c.verifyEmail({ token });
    const tokens = await c.signIn({ email, password: GOOD_PASSWORD });
    expect((await c.getMe({}, bearer(tokens.accessToken))).user?.emailVerified).toBe(true);
    expect(await codeOf(c.verifyEmail({ token }))).toBe(Code.InvalidArgument);
    expect(await codeOf(c.requestEmailVerification({}, bearer(tokens.accessToken)))).toBe(Code.FailedPrecondition);

    const stored = await stack.primary.query("SELECT encode(token_hash, 'hex') AS h FROM account_tokens");
    expect(stored.rows.map((r) => r.h).join()).not.toContain(Buffer.from(token).toString("hex"));
  });

  it("RequestEmailVerification mails a fresh link", async () => {
    const email = uniqueEmail("again");
    const c = client();
    await c.signUp({ email, password: GOOD_PASSWORD });
    await stack.tokenFrom(email, /Confirm your email/);
    const tokens = await c.signIn({ email, password: GOOD_PASSWORD });
    await c.requestEmailVerification({}, bearer(tokens.accessToken));
    const { token } = await stack.tokenFrom(email, /Confirm your email/);
    await c.verifyEmail({ token });
  });

  it("signing up again with a taken email answers the same and notifies the owner", async () => {
    const email = uniqueEmail("taken");
    const c = client();
    const first = await c.signUp({ email, password: GOOD_PASSWORD });
    const second = await c.signUp({ email, password: "someone else's passphrase" });
    expect(second).toEqual(first);
    const notice = await stack.sink.waitFor(email, /tried to sign up/);
    expect(notice.text).toMatch(/No new account was created/);
  });

  it("RequestPasswordReset answers identically for unknown and existing emails; only the owner gets mail", async () => {
    const email = uniqueEmail("reset");
    const c = client();
    await c.signUp({ email, password: GOOD_PASSWORD });
    const unknown = uniqueEmail("nobody");
    const known = await c.requestPasswordReset({ email });
    const other = await c.requestPasswordReset({ email: unknown });
    expect(other).toEqual(known);
    await stack.sink.waitFor(email, /Reset your password/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stack.sink.messages.some((m) => m.to === unknown)).toBe(false);
  });

  it("ResetPassword checks the policy, sets the password, revokes every session, notifies, and works once", async () => {
    const email = uniqueEmail("reset");
    const c = client();
    await c.signUp({ email, password: GOOD_PASSWORD });
    const before = await c.signIn({ email, password: GOOD_PASSWORD });
    await c.requestPasswordReset({ email });
    const { token } = await stack.tokenFrom(email, /Reset your password/);

    expect((await rejection(c.resetPassword({ token, newPassword: "password1" }))).rawMessage).toMatch(/too common/);
    expect((await c.resetPassword({ token, newPassword: NEW_PASSWORD })).revokedSessions).toBe(1);
    expect(await codeOf(c.getMe({}, bearer(before.accessToken)))).toBe(Code.Unauthenticated);
    expect(await codeOf(c.signIn({ email, password: GOOD_PASSWORD }))).toBe(Code.Unauthenticated);
    await expect(c.signIn({ email, password: NEW_PASSWORD })).resolves.toBeTruthy();
    expect(await codeOf(c.resetPassword({ token, newPassword: "yet another passphrase" }))).toBe(Code.InvalidArgument);
    await stack.sink.waitFor(email, /Security notice: your password was reset/);
  });

  it("a newer reset kills older links too", async () => {
    const email = uniqueEmail("two-links");
    const c = client();
    await c.signUp({ email, password: GOOD_PASSWORD });
    await c.requestPasswordReset({ email });
    const { token: first } = await stack.tokenFrom(email, /Reset your password/);
    await c.requestPasswordReset({ email });
    const { token: second } = await stack.tokenFrom(email, /Reset your password/);
    await c.resetPassword({ token: second, newPassword: NEW_PASSWORD });
    expect(await codeOf(c.resetPassword({ token: first, newPassword: "yet another passphrase" }))).toBe(Code.InvalidArgument);
  });

  it("reset requests are limited per email address, existing or not, with a retry-after hint", async () => {
    const existing = uniqueEmail("limited");
    // Made directly, as in the other budget tests: the account exists without any mail sent to it.
    await stack.primary.query("INSERT INTO users (email, password_hash) VALUES ($1, 'x')", [existing]);
    for (const email of [existing, uniqueEmail("limited-unknown")]) {
      for (let i = 0; i < 3; i++) await clientFrom(stack.auth, randomIp()).requestPasswordReset({ email });
      const refused = await rejection(clientFrom(stack.auth, randomIp()).requestPasswordReset({ email }));
      expect(refused.code).toBe(Code.ResourceExhausted);
      expect(refused.metadata.get("retry-after")).toMatch(/^\d+$/);
    }
  });

  it("the owner of a locked account can still reset, and the reset lifts the lock", async () => {
    const email = uniqueEmail("locked");
    await client().signUp({ email, password: GOOD_PASSWORD });
    for (let i = 0; i < 2; i++) await codeOf(client().signIn({ email, password: "attacker guess" }));
    expect(await codeOf(client().signIn({ email, password: GOOD_PASSWORD }))).toBe(Code.ResourceExhausted);
    const owner = client();
    await owner.requestPasswordReset({ email });
    const { token } = await stack.tokenFrom(email, /Reset your password/);
    await owner.resetPassword({ token, newPassword: NEW_PASSWORD });
    await expect(client().signIn({ email, password: NEW_PASSWORD })).resolves.toBeTruthy();
  });

  it("ChangePassword checks the common list and notifies the owner", async () => {
    const email = uniqueEmail("change");
    const c = client();
    await c.signUp({ email, password: GOOD_PASSWORD });
    const tokens = await c.signIn({ email, password: GOOD_PASSWORD });
    const weak = await rejection(c.changePassword({ currentPassword: GOOD_PASSWORD, newPassword: "password123" }, bearer(tokens.accessToken)));
    expect(weak.code).toBe(Code.InvalidArgument);
    await c.changePassword({ currentPassword: GOOD_PASSWORD, newPassword: NEW_PASSWORD }, bearer(tokens.accessToken));
    await stack.sink.waitFor(email, /Security notice: your password was changed/);
  });

  it("security events reach the audit log with IP, user agent and request id", async () => {
    const email = uniqueEmail("audited");
    const ip = randomIp();
    const c = clientFrom(stack.auth, ip);
    await c.signUp({ email, password: GOOD_PASSWORD });
    await c.requestPasswordReset({ email }, { headers: { "user-agent": "Audit/1.0", "x-request-id": "req-reset-1" } });
    const rows = await stack.primary.query(
      "SELECT a.type, a.ip, a.user_agent, a.request_id FROM audit_events a JOIN users u ON u.id = a.user_id WHERE u.email = $1 ORDER BY a.id",
      [email],
    );
    expect(rows.rows.at(-1)).toEqual({ type: "password.reset_requested", ip, user_agent: "Audit/1.0", request_id: "req-reset-1" });
  });
});

describe("expired tokens", () => {
  let stack: Awaited<ReturnType<typeof startMailStack>>;
  beforeAll(async () => {
    stack = await startMailStack({ RESET_TOKEN_TTL: "1s", VERIFY_EMAIL_TOKEN_TTL: "1s" });
  });
  afterAll(async () => stack?.close());

  it("reset and verification tokens stop working when they expire", async () => {
    const email = uniqueEmail("expired");
    const c = clientFrom(stack.auth, randomIp());
    await c.signUp({ email, password: GOOD_PASSWORD });
    const { token: verify } = await stack.tokenFrom(email, /Confirm your email/);
    await c.requestPasswordReset({ email });
    const { token: reset } = await stack.tokenFrom(email, /Reset your password/);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await codeOf(c.verifyEmail({ token: verify }))).toBe(Code.InvalidArgument);
    expect(await codeOf(c.resetPassword({ token: reset, newPassword: NEW_PASSWORD }))).toBe(Code.InvalidArgument);
    await expect(c.signIn({ email, password: GOOD_PASSWORD })).resolves.toBeTruthy();
  });
});
