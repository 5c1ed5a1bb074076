import { Code } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { GOOD_PASSWORD, TRUST_LOOPBACK, type TestAuth, clientFrom, randomIp, startTestAuth, uniqueEmail } from "../../support/auth.js";
import { codeOf, rejection } from "../../support/rpc-errors.js";
import { REDIS_SHAPES, redisEnv } from "../../support/redis-matrix.js";

describe.each(REDIS_SHAPES)("rate limits and lockout (redis %s)", (shape) => {
  let auth: TestAuth;
  let primary: pg.Pool;

  beforeAll(async () => {
    auth = await startTestAuth({
      ...redisEnv(shape),
      ...TRUST_LOOPBACK,
      LOCKOUT_THRESHOLD: "3",
      LOCKOUT_BASE: "2s",
      RATE_LIMIT_SIGNIN_IP: "5/1m",
      RATE_LIMIT_SIGNUP_IP: "3/1m",
    });
    primary = new pg.Pool({ connectionString: inject("stack").primaryUrl });
  });
  afterAll(async () => {
    await auth?.close();
    await primary?.end();
  });

  it("brute force from many IPs locks the account for new IPs only; the owner's known IP still signs in", async () => {
    const email = uniqueEmail("victim");
    const ownerIp = randomIp();
    const owner = clientFrom(auth, ownerIp);
    await owner.signUp({ email, password: GOOD_PASSWORD });
    await owner.signIn({ email, password: GOOD_PASSWORD });

    for (let i = 0; i < 3; i++) {
      expect(await codeOf(clientFrom(auth, randomIp()).signIn({ email, password: `wrong guess ${i}` }))).toBe(Code.Unauthenticated);
    }
    // Even the right password is refused from a new IP while locked: the attacker learns nothing from it.
    const locked = await rejection(clientFrom(auth, randomIp()).signIn({ email, password: GOOD_PASSWORD }));
    expect(locked.code).toBe(Code.ResourceExhausted);
    expect(locked.rawMessage).toMatch(/retry after [12] seconds/);
    expect(locked.metadata.get("retry-after")).toMatch(/^[12]$/);

    // The owner's usual device is not locked out.
    await expect(owner.signIn({ email, password: GOOD_PASSWORD })).resolves.toMatchObject({ tokenType: "Bearer" });

    const events = await primary.query(
      "SELECT a.type, a.details FROM audit_events a JOIN users u ON u.id = a.user_id WHERE u.email = $1 ORDER BY a.id",
      [email],
    );
    expect(events.rows.map((r) => r.type)).toContain("signin.locked");
    expect(events.rows.filter((r) => r.type === "signin.failure").map((r) => r.details.reason)).toEqual([
      "wrong_password",
      "wrong_password",
      "wrong_password",
      "locked",
    ]);
  });

  it("a known IPv6 device is its /64: the owner's next privacy address still signs in, another network does not", async () => {
    const email = uniqueEmail("v6-owner");
    const [, x = 0, y = 0] = randomIp().split(".").map(Number);
    const network = (n: number) => `2001:db8:${x.toString(16)}:${n.toString(16)}`;
    const owner = clientFrom(auth, `${network(y)}::a`);
    await owner.signUp({ email, password: GOOD_PASSWORD });
    await owner.signIn({ email, password: GOOD_PASSWORD });
    for (let i = 0; i < 3; i++) {
      expect(await codeOf(clientFrom(auth, randomIp()).signIn({ email, password: `wrong guess ${i}` }))).toBe(Code.Unauthenticated);
    }
    // RFC 8981: the owner's device rotates its interface identifier within the same /64.
    await expect(clientFrom(auth, `${network(y)}:9f3c:21ff:fe4e:77b2`).signIn({ email, password: GOOD_PASSWORD })).resolves.toMatchObject({ tokenType: "Bearer" });
    // Locked again; a neighbouring /64 is another network, not the owner's device.
    for (let i = 0; i < 3; i++) {
      expect(await codeOf(clientFrom(auth, randomIp()).signIn({ email, password: `wrong again ${i}` }))).toBe(Code.Unauthenticated);
    }
    expect(await codeOf(clientFrom(auth, `${network(y + 1)}::a`).signIn({ email, password: GOOD_PASSWORD }))).toBe(Code.ResourceExhausted);
  });

  it("a lock expires by itself", async () => {
    const email = uniqueEmail("expiring");
    const client = clientFrom(auth, randomIp());
    await client.signUp({ email, password: GOOD_PASSWORD });
    for (let i = 0; i < 3; i++) await codeOf(clientFrom(auth, randomIp()).signIn({ email, password: "not the password" }));
    expect(await codeOf(clientFrom(auth, randomIp()).signIn({ email, password: GOOD_PASSWORD }))).toBe(Code.ResourceExhausted);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    await expect(clientFrom(auth, randomIp()).signIn({ email, password: GOOD_PASSWORD })).resolves.toMatchObject({ tokenType: "Bearer" });
  });

  it("an unknown email locks exactly like an existing one", async () => {
    const answers = async (email: string) => {
      for (let i = 0; i < 3; i++) await codeOf(clientFrom(auth, randomIp()).signIn({ email, password: "not the password" }));
      const error = await rejection(clientFrom(auth, randomIp()).signIn({ email, password: "not the password" }));
      return { code: error.code, message: error.rawMessage.replace(/\d+/, "N") };
    };
    const existing = uniqueEmail("exists");
    await clientFrom(auth, randomIp()).signUp({ email: existing, password: GOOD_PASSWORD });
    expect(await answers(uniqueEmail("nobody"))).toEqual(await answers(existing));
  });

  it("one IP against many accounts trips the per-IP limit, for every account, and no other IP", async () => {
    const ip = randomIp();
    const attacker = clientFrom(auth, ip);
    for (let i = 0; i < 5; i++) {
      expect(await codeOf(attacker.signIn({ email: uniqueEmail("spray"), password: "Summer2024!!" }))).toBe(Code.Unauthenticated);
    }
    const refused = await rejection(attacker.signIn({ email: uniqueEmail("spray"), password: "Summer2024!!" }));
    expect(refused.code).toBe(Code.ResourceExhausted);
    expect(Number(refused.metadata.get("retry-after"))).toBeGreaterThan(0);
    expect(await codeOf(clientFrom(auth, randomIp()).signIn({ email: uniqueEmail("spray"), password: "Summer2024!!" }))).toBe(
      Code.Unauthenticated,
    );
  });

  it("sign-ups are limited per IP, across instances", async () => {
    const other = await startTestAuth({ ...redisEnv(shape), ...TRUST_LOOPBACK }, {});
    try {
      const ip = randomIp();
      await clientFrom(auth, ip).signUp({ email: uniqueEmail(), password: GOOD_PASSWORD });
      await clientFrom(other, ip).signUp({ email: uniqueEmail(), password: GOOD_PASSWORD });
      await clientFrom(auth, ip).signUp({ email: uniqueEmail(), password: GOOD_PASSWORD });
      // The second instance runs with the default budget, yet the shared counter already holds this IP's 3.
      expect(await codeOf(clientFrom(auth, ip).signUp({ email: uniqueEmail(), password: GOOD_PASSWORD }))).toBe(Code.ResourceExhausted);
    } finally {
      await other.close();
    }
  });
});
