import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, type TestAuth, bearer, clientFrom, randomIp, uniqueEmail } from "../../support/auth.js";
import { startMailStack } from "../../support/mail.js";
import { codeOf, rejection } from "../../support/rpc-errors.js";

describe("ChangeEmail (outbox, worker, SMTP, two instances)", () => {
  let stack: Awaited<ReturnType<typeof startMailStack>>;
  let second: TestAuth;

  beforeAll(async () => {
    stack = await startMailStack({ PUBLIC_BASE_URL: "https://id.example.com" });
    second = await stack.startPeer();
  });
  afterAll(async () => {
    await stack?.close();
  });

  const onFirst = () => clientFrom(stack.auth, randomIp());
  const onSecond = () => clientFrom(second, randomIp());

  async function signedUp(tag: string) {
    const email = uniqueEmail(tag);
    const c = onFirst();
    await c.signUp({ email, password: GOOD_PASSWORD });
    const { accessToken } = await c.signIn({ email, password: GOOD_PASSWORD });
    return { email, c, auth: bearer(accessToken) };
  }

  const outboxSubjects = async (to: string) =>
    (await stack.primary.query<{ subject: string }>("SELECT subject FROM mail_outbox WHERE recipient = $1 ORDER BY id", [to])).rows.map((r) => r.subject);

  it("mails the new address a link and the old one a notice; the link moves the account on every instance", async () => {
    const { email: old, c, auth } = await signedUp("mover");
    // Fills the shared lookup cache for the old address, which the change must clear.
    await onSecond().signIn({ email: old, password: GOOD_PASSWORD });
    const next = uniqueEmail("new-home");

    await c.changeEmail({ currentPassword: GOOD_PASSWORD, newEmail: next.toUpperCase() }, auth);
    const { token, mail } = await stack.tokenFrom(next, /Confirm your new email address/);
    expect(mail.text).toContain(`https://id.example.com/verify-email#token=${token}`);
    const notice = await stack.sink.waitFor(old, /someone asked to change your email address/);
    expect(notice.text).toContain("n***@example.com");
    expect(notice.text).not.toContain(next);
    // Nothing moves before the new address confirms.
    await expect(onSecond().signIn({ email: old, password: GOOD_PASSWORD })).resolves.toBeTruthy();

    await onFirst().verifyEmail({ token });
    expect(await codeOf(onSecond().signIn({ email: old, password: GOOD_PASSWORD }))).toBe(Code.Unauthenticated);
    await expect(onSecond().signIn({ email: next, password: GOOD_PASSWORD })).resolves.toMatchObject({ tokenType: "Bearer" });
    expect((await c.getMe({}, auth)).user).toMatchObject({ email: next, emailVerified: true });

    const changed = await stack.sink.waitFor(old, /your email address was changed/);
    expect(changed.text).toContain("changed to n***@example.com");
    expect(changed.text).not.toContain(next);
    const events = (await c.listAuditEvents({}, auth)).events.map((e) => e.type);
    expect(events.filter((type) => type.startsWith("email."))).toEqual(["email.changed", "email.change_requested"]);
  });

  it("GetMe on either instance shows a verified or a changed address as soon as its link is used", async () => {
    const { email, c, auth } = await signedUp("profile-mover");
    const peer = onSecond();
    // The peer has an issuer of its own: its own sign-in, the same account and the same shared cache.
    const onPeer = bearer((await peer.signIn({ email, password: GOOD_PASSWORD })).accessToken);
    // Fills the shared profile cache, which each redemption must drop.
    expect((await peer.getMe({}, onPeer)).user).toMatchObject({ email, emailVerified: false });
    const { token: verify } = await stack.tokenFrom(email, /Confirm your email address/);
    await c.verifyEmail({ token: verify });
    expect((await peer.getMe({}, onPeer)).user).toMatchObject({ email, emailVerified: true });

    const next = uniqueEmail("profile-new-home");
    await c.changeEmail({ currentPassword: GOOD_PASSWORD, newEmail: next }, auth);
    const { token } = await stack.tokenFrom(next, /Confirm your new email address/);
    await onFirst().verifyEmail({ token });
    expect((await peer.getMe({}, onPeer)).user).toMatchObject({ email: next, emailVerified: true });
    expect((await c.getMe({}, auth)).user).toMatchObject({ email: next, emailVerified: true });
  });

  it("a confirmation link works once", async () => {
    const { c, auth } = await signedUp("once");
    const next = uniqueEmail("once-new");
    await c.changeEmail({ currentPassword: GOOD_PASSWORD, newEmail: next }, auth);
    const { token } = await stack.tokenFrom(next, /Confirm your new email address/);
    await c.verifyEmail({ token });
    expect(await codeOf(c.verifyEmail({ token }))).toBe(Code.InvalidArgument);
  });

  it("refuses a wrong current password with PERMISSION_DENIED, audited, and mails nothing", async () => {
    const { email, c, auth } = await signedUp("wrong-pw");
    const next = uniqueEmail("wrong-pw-new");
    expect(await codeOf(c.changeEmail({ currentPassword: "not my password", newEmail: next }, auth))).toBe(Code.PermissionDenied);
    const [latest] = (await c.listAuditEvents({}, auth)).events;
    expect(latest).toMatchObject({ type: "signin.failure", details: { reason: "wrong_current_password", during: "change_email" } });
    expect(await outboxSubjects(next)).toEqual([]);
    expect(await outboxSubjects(email)).toEqual(["Confirm your email address"]);
  });

  it("refuses a malformed new address and the current one with INVALID_ARGUMENT", async () => {
    const { email, c, auth } = await signedUp("invalid");
    for (const newEmail of ["not-an-address", "", "a@b", email.toUpperCase()]) {
      expect(await codeOf(c.changeEmail({ currentPassword: GOOD_PASSWORD, newEmail }, auth))).toBe(Code.InvalidArgument);
    }
    expect(await codeOf(c.changeEmail({ currentPassword: GOOD_PASSWORD, newEmail: uniqueEmail() }))).toBe(Code.Unauthenticated);
  });

  it("answers the same for a taken address, mails it a notice and no link, and leaves its account alone", async () => {
    const { email: taken } = await signedUp("nugget");
    const free = uniqueEmail("nugget");
    const one = await signedUp("asker-one");
    const two = await signedUp("asker-two");

    const toFree = await one.c.changeEmail({ currentPassword: GOOD_PASSWORD, newEmail: free }, one.auth);
    const toTaken = await two.c.changeEmail({ currentPassword: GOOD_PASSWORD, newEmail: taken }, two.auth);
    expect(toTaken).toEqual(toFree);

    await stack.sink.waitFor(taken, /tried to move an account to your email address/);
    expect(await outboxSubjects(taken)).toEqual(["Confirm your email address", "Someone tried to move an account to your email address"]);
    const pending = await stack.primary.query(
      "SELECT 1 FROM account_tokens t JOIN users u ON u.id = t.user_id WHERE u.email = $1 AND t.purpose = 'change_email'",
      [two.email],
    );
    expect(pending.rowCount).toBe(0);
    // The old address cannot tell the two cases apart either.
    const [noticeOne, noticeTwo] = await Promise.all([
      stack.sink.waitFor(one.email, /someone asked to change/),
      stack.sink.waitFor(two.email, /someone asked to change/),
    ]);
    expect(noticeTwo.text).toBe(noticeOne.text);

    await expect(onSecond().signIn({ email: taken, password: GOOD_PASSWORD })).resolves.toBeTruthy();
    expect((await two.c.getMe({}, two.auth)).user?.email).toBe(two.email);
  });

  it("refuses the link if the address was taken since the request, and changes nothing", async () => {
    const { email: old, c, auth } = await signedUp("late");
    const next = uniqueEmail("late-new");
    await c.changeEmail({ currentPassword: GOOD_PASSWORD, newEmail: next }, auth);
    const { token } = await stack.tokenFrom(next, /Confirm your new email address/);
    await onFirst().signUp({ email: next, password: "the other owner's passphrase" });

    const refused = await rejection(c.verifyEmail({ token }));
    expect(refused.code).toBe(Code.InvalidArgument);
    expect(refused.rawMessage).toBe("this address is no longer available");
    expect((await c.getMe({}, auth)).user).toMatchObject({ email: old, emailVerified: false });
    await expect(onSecond().signIn({ email: old, password: GOOD_PASSWORD })).resolves.toBeTruthy();
    await expect(onSecond().signIn({ email: next, password: "the other owner's passphrase" })).resolves.toBeTruthy();
    expect(await outboxSubjects(old)).not.toContain("Security notice: your email address was changed");
  });

  it("a password reset cancels a pending change, as the notice to the old address promises", async () => {
    const { email: old, c, auth } = await signedUp("reset-cancels");
    const next = uniqueEmail("reset-cancels-new");
    await c.changeEmail({ currentPassword: GOOD_PASSWORD, newEmail: next }, auth);
    const { token: change } = await stack.tokenFrom(next, /Confirm your new email address/);
    await c.requestPasswordReset({ email: old });
    const { token: reset } = await stack.tokenFrom(old, /Reset your password/);
    await c.resetPassword({ token: reset, newPassword: "the owner's new passphrase" });

    expect(await codeOf(c.verifyEmail({ token: change }))).toBe(Code.InvalidArgument);
    await expect(onSecond().signIn({ email: old, password: "the owner's new passphrase" })).resolves.toBeTruthy();
  });
});
