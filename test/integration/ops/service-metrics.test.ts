import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientFrom, GOOD_PASSWORD, newUser, randomIp, startTestAuth, TRUST_LOOPBACK, uniqueEmail, type TestAuth } from "../../support/auth.js";
import { startTestAuthz, type TestAuthz } from "../../support/authz.js";
import { codeOf } from "../../support/rpc-errors.js";

/** The value of one series in a Prometheus text exposition, or undefined when it is not exported. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("what operators watch: budgets refused, argon2 load, cache hit ratio", () => {
  let auth: TestAuth;
  let authz: TestAuthz;

  beforeAll(async () => {
    auth = await startTestAuth({ ...TRUST_LOOPBACK, RATE_LIMIT_SIGNUP_IP: "1/1h" });
    authz = await startTestAuthz(auth);
  });
  afterAll(async () => {
    await authz?.close();
    await auth?.close();
  });

  it("counts each refusal by budget and exports the hashes in flight", async () => {
    const client = clientFrom(auth, randomIp());
    await client.signUp({ email: uniqueEmail("metrics"), password: GOOD_PASSWORD });
    expect(await codeOf(client.signUp({ email: uniqueEmail("metrics"), password: GOOD_PASSWORD }))).toBe(Code.ResourceExhausted);
    const text = await (await fetch(`${auth.server.url}/metrics`)).text();
    expect(sample(text, 'auth_rate_limited_total{limiter="signup-ip"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, "auth_password_hashes_in_flight")).toBe(0);
  });

  it("counts the Check's cache hits and misses", async () => {
    const { tokens } = await newUser(clientFrom(auth, randomIp()));
    for (let i = 0; i < 3; i++) expect((await authz.forward("/example/", { authorization: `Bearer ${tokens.accessToken}` })).status).toBe(200);
    const text = await authz.metrics();
    expect(sample(text, 'authz_cache_lookups_total{cache="token",result="miss"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'authz_cache_lookups_total{cache="token",result="hit"}')).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'authz_cache_lookups_total{cache="session",result="hit"}')).toBeGreaterThanOrEqual(1);
  });
});
