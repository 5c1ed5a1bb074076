import { Code } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { GOOD_PASSWORD, type TestAuth, startTestAuth, uniqueEmail } from "../../support/auth.js";
import { rejection } from "../../support/rpc-errors.js";

describe("SignUp and SignIn", () => {
  let auth: TestAuth;
  let primary: pg.Pool;

  beforeAll(async () => {
    auth = await startTestAuth();
    primary = new pg.Pool({ connectionString: inject("stack").primaryUrl });
  });
  afterAll(async () => {
    await auth?.close();
    await primary?.end();
  });

  const auditTypes = async (email: string) =>
    (
      await primary.query<{ type: string; reason: string | null }>(
        "SELECT a.type, a.details->>'reason' AS reason FROM audit_events a JOIN users u ON u.id = a.user_id WHERE u.email = $1 ORDER BY a.id",
        [email],
      )
    ).rows;

  it("creates an account that can sign in and receive a token pair", async () => {
    const email = uniqueEmail();
    expect(await auth.client.signUp({ email, password: GOOD_PASSWORD })).toMatchObject({});
    const tokens = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    expect(tokens.accessToken.split(".")).toHaveLength(3);
    expect(tokens.refreshToken.startsWith(`${tokens.sessionId}.`)).toBe(true);
    expect(tokens.tokenType).toBe("Bearer");
    const expires = Number(tokens.accessTokenExpiresAt?.seconds) * 1000;
    expect(expires - Date.now()).toBeGreaterThan(9 * 60_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(10 * 60_000 + 1000);
    expect((await auditTypes(email)).map((r) => r.type)).toEqual(["signup", "signin.success"]);
  });

  it("answers a repeated sign-up exactly like a new one and keeps the first password", async () => {
    const email = uniqueEmail();
    const first = await auth.client.signUp({ email, password: GOOD_PASSWORD });
    const again = await auth.client.signUp({ email: email.toUpperCase(), password: "another long passphrase" });
    expect(again).toEqual(first);
    await expect(auth.client.signIn({ email, password: GOOD_PASSWORD })).resolves.toBeTruthy();
    const error = await rejection(auth.client.signIn({ email, password: "another long passphrase" }));
    expect(error.code).toBe(Code.Unauthenticated);
  });

  it("gives the same UNAUTHENTICATED answer for a wrong password and an unknown email", async () => {
    const email = uniqueEmail();
    await auth.client.signUp({ email, password: GOOD_PASSWORD });
    const wrong = await rejection(auth.client.signIn({ email, password: "not the password at all" }));
    const unknown = await rejection(auth.client.signIn({ email: uniqueEmail("nobody"), password: "not the password at all" }));
    expect(wrong.code).toBe(Code.Unauthenticated);
    expect(unknown.code).toBe(Code.Unauthenticated);
    expect(wrong.rawMessage).toBe(unknown.rawMessage);
    expect(await auditTypes(email)).toContainEqual({ type: "signin.failure", reason: "wrong_password" });
  });

  it("matches emails case-insensitively after Unicode normalisation", async () => {
    const email = `Ünïcode-${Date.now()}@Example.COM`;
    await auth.client.signUp({ email, password: GOOD_PASSWORD });
    // "Ü" precomposed vs "U" + combining diaeresis: the same address after NFC.
    const decomposed = email.normalize("NFD").toLowerCase();
    await expect(auth.client.signIn({ email: decomposed, password: GOOD_PASSWORD })).resolves.toBeTruthy();
  });

  it("refuses short, overlong and common passwords with INVALID_ARGUMENT naming the rule", async () => {
    const cases: Array<[string, RegExp]> = [
      ["short", /at least 8/],
      ["x".repeat(129), /at most 128/],
      ["password123", /too common/],
      ["", /password is required/],
    ];
    for (const [password, message] of cases) {
      const error = await rejection(auth.client.signUp({ email: uniqueEmail(), password }));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toMatch(message);
    }
  });

  it("accepts a 128-character Unicode passphrase and counts characters, not bytes", async () => {
    const email = uniqueEmail();
    const password = "🔐".repeat(64) + "пароль-".repeat(9) + "x";
    expect([...password]).toHaveLength(128);
    await auth.client.signUp({ email, password });
    await expect(auth.client.signIn({ email, password })).resolves.toBeTruthy();
  });

  it("upgrades the stored hash on sign-in when the argon2 parameters change", async () => {
    const email = uniqueEmail();
    const weak = await startTestAuth({ PASSWORD_ARGON2_MEMORY_KIB: "8192", PASSWORD_ARGON2_ITERATIONS: "1" });
    try {
      await weak.client.signUp({ email, password: GOOD_PASSWORD });
    } finally {
      await weak.close();
    }
    const hashOf = async () => (await primary.query<{ h: string }>("SELECT password_hash AS h FROM users WHERE email = $1", [email])).rows[0]?.h;
    expect(await hashOf()).toMatch(/m=8192,p=1,t=1\$/);
    await auth.client.signIn({ email, password: GOOD_PASSWORD });
    expect(await hashOf()).toMatch(/m=19456,p=1,t=2\$/);
    expect((await auditTypes(email)).map((r) => r.type)).toContain("password.rehash");
    await expect(auth.client.signIn({ email, password: GOOD_PASSWORD })).resolves.toBeTruthy();
  });

  it("creates exactly one account when the same email signs up concurrently", async () => {
    const email = uniqueEmail();
    // Five: each sign-up mails the address and so spends its per-recipient budget (RATE_LIMIT_MAIL_ACCOUNT, 5/h).
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => auth.client.signUp({ email, password: GOOD_PASSWORD })));
    expect(results.every((r) => r.status === "fulfilled")).toBe(true);
    const count = await primary.query<{ n: string }>("SELECT count(*) AS n FROM users WHERE email = $1", [email]);
    expect(count.rows[0]?.n).toBe("1");
  });
});
