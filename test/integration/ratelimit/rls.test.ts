import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { percentile } from "../../support/authz.js";
import { startPrivateRedis } from "../../support/data-tier.js";
import { freshDomain, routeDescriptors, startTestRateLimit, type TestRateLimit } from "../../support/ratelimit.js";

describe("rate limit service (envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit)", () => {
  const domain = freshDomain();
  let a: TestRateLimit;
  let b: TestRateLimit;
  beforeAll(async () => {
    const env = { RATE_LIMIT_DOMAIN: domain, RATE_LIMIT_GATEWAY_RULES: "signin:ip=3/1m,signup:route=2/1h,bench:ip=1000000/1h" };
    [a, b] = await Promise.all([startTestRateLimit(env), startTestRateLimit(env)]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it("spends one budget per client address across two instances, with what Envoy needs for 429 headers", async () => {
    const ask = (rls: TestRateLimit, ip: string) => rls.shouldRateLimit({ domain, descriptors: routeDescriptors("signin", ip) });
    const answers = [];
    for (const rls of [a, b, a, b]) answers.push(await ask(rls, "203.0.113.7"));
    expect(answers.map((r) => r.overall_code)).toEqual(["OK", "OK", "OK", "OVER_LIMIT"]);
    expect(answers.map((r) => r.statuses[0]?.limit_remaining ?? 0)).toEqual([2, 1, 0, 0]);

    const over = answers[3]!;
    expect(over.statuses[0]).toMatchObject({ code: "OVER_LIMIT", current_limit: { name: "signin:ip", requests_per_unit: 3, unit: "MINUTE" } });
    const reset = Number(over.statuses[0]?.duration_until_reset?.seconds ?? -1);
    expect(reset).toBeGreaterThanOrEqual(0);
    expect(reset).toBeLessThanOrEqual(60);
    const retryAfter = Number(over.response_headers_to_add?.find((h) => h.key === "retry-after")?.value);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // The route-wide descriptor has no rule for signin: not limited, and says so without a limit.
    expect(over.statuses[1]).toEqual({ code: "OK" });
    expect(answers[0]?.response_headers_to_add ?? []).toEqual([]);

    // Each instance counts what it answered, per rule; series come from the config, never from client input.
    expect(await b.metrics()).toMatch(/^ratelimit_budget_charges_total\{rule="signin:ip",code="over_limit"\} 1$/m);
    expect(await a.metrics()).toMatch(/^ratelimit_budget_charges_total\{rule="signin:ip",code="ok"\} 2$/m);

    // Another address has its own budget, on either instance.
    expect((await ask(b, "203.0.113.8")).overall_code).toBe("OK");
    expect((await ask(a, "2001:db8::8")).overall_code).toBe("OK");
  });

  it("spends a route-wide budget for every client together, and leaves routes without a rule alone", async () => {
    const ask = (rls: TestRateLimit, ip: string) => rls.shouldRateLimit({ domain, descriptors: routeDescriptors("signup", ip) });
    const codes = [];
    for (const [rls, ip] of [[a, "198.51.100.1"], [b, "198.51.100.2"], [a, "198.51.100.3"]] as const) codes.push((await ask(rls, ip)).overall_code);
    expect(codes).toEqual(["OK", "OK", "OVER_LIMIT"]);
    const free = await a.shouldRateLimit({ domain, descriptors: routeDescriptors("jwks", "198.51.100.1") });
    expect(free).toEqual({ overall_code: "OK", statuses: [{ code: "OK" }, { code: "OK" }] });
  });

  it("charges hits_addend points at once", async () => {
    const descriptors = routeDescriptors("signin", "192.0.2.50");
    expect((await a.shouldRateLimit({ domain, descriptors, hits_addend: 3 })).statuses[0]?.limit_remaining ?? 0).toBe(0);
    expect((await b.shouldRateLimit({ domain, descriptors })).overall_code).toBe("OVER_LIMIT");
  });

  it("answers malformed, oversized and hostile requests with INVALID_ARGUMENT or RESOURCE_EXHAUSTED and keeps serving", async () => {
    const refused = (request: unknown) => a.shouldRateLimit(request).then(() => grpc.status.OK, (e: grpc.ServiceError) => [e.code, e.details] as const);
    expect(await refused({ domain: "gateway", descriptors: routeDescriptors("signin", "192.0.2.1") })).toEqual([
      grpc.status.INVALID_ARGUMENT,
      `unknown domain "gateway"; this service answers for "${domain}"`,
    ]);
    expect(await refused({ domain })).toEqual([grpc.status.INVALID_ARGUMENT, "at least one descriptor is required"]);
    expect(await refused({ domain, descriptors: [{ entries: [{ key: "route", value: "x".repeat(300) }] }] })).toEqual([
      grpc.status.INVALID_ARGUMENT,
      "descriptors[0].entries[0]: value longer than 256 characters",
    ]);
    expect(await refused({ domain, descriptors: [{ entries: [{ key: "route" }] }] })).toEqual([grpc.status.INVALID_ARGUMENT, "descriptors[0].entries[0]: key and value must not be empty"]);
    // A message far beyond anything Envoy sends is refused by the transport before it is parsed.
    const huge = Array.from({ length: 2000 }, (_, i) => ({ entries: [{ key: `k${i}`, value: "v".repeat(200) }] }));
    expect((await refused({ domain, descriptors: huge }) as readonly [number, string])[0]).toBe(grpc.status.RESOURCE_EXHAUSTED);

    // Bytes that are not a RateLimitRequest at all.
    const garbage = await new Promise<grpc.ServiceError | null>((resolve) =>
      a.client.makeUnaryRequest(
        "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
        (value: Buffer) => value,
        (value: Buffer) => value,
        Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]),
        { deadline: Date.now() + 5000 },
        (error) => resolve(error),
      ),
    );
    expect(garbage?.code).toBe(grpc.status.INTERNAL);
    expect(garbage?.details).toMatch(/deserializ/i);

    expect((await a.shouldRateLimit({ domain, descriptors: routeDescriptors("signin", "192.0.2.99") })).overall_code).toBe("OK");
    expect(await a.health("envoy.service.ratelimit.v3.RateLimitService")).toBe("SERVING");
    expect(await a.metrics()).toMatch(/^ratelimit_calls_total\{outcome="invalid"\} 4$/m);
  });

  it("answers UNAVAILABLE, never a verdict, while its Redis is down (Envoy then lets the request through)", async () => {
    const redis = await startPrivateRedis();
    const rls = await startTestRateLimit({ REDIS_URL: redis.url, RATE_LIMIT_DOMAIN: domain, RATE_LIMIT_GATEWAY_RULES: "signin:ip=3/1m" });
    try {
      expect((await fetch(`${rls.server.httpUrl}/readyz`)).status).toBe(200);
      expect((await rls.shouldRateLimit({ domain, descriptors: routeDescriptors("signin", "192.0.2.1") })).overall_code).toBe("OK");
      await redis.kill();
      const error = await rls.shouldRateLimit({ domain, descriptors: routeDescriptors("signin", "192.0.2.1") }).catch((e: grpc.ServiceError) => e);
      expect(error).toMatchObject({ code: grpc.status.UNAVAILABLE, details: "rate limit store unavailable" });
      expect(await rls.health()).toBe("NOT_SERVING");
      expect((await fetch(`${rls.server.httpUrl}/readyz`)).status).toBe(503);
      expect(await rls.metrics()).toMatch(/^ratelimit_calls_total\{outcome="unavailable"\} 1$/m);
    } finally {
      await rls.close();
      await redis.kill();
    }
  });

  it("reports ShouldRateLimit latency over sequential calls (printed, not asserted)", async () => {
    const samples: number[] = [];
    const codes = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const started = process.hrtime.bigint();
      const answer = await (i % 2 ? a : b).shouldRateLimit({ domain, descriptors: routeDescriptors("bench", `10.0.${(i >> 8) & 255}.${i & 255}`) });
      samples.push(Number(process.hrtime.bigint() - started) / 1e6);
      codes.add(`${answer.overall_code} ${answer.statuses[0]?.limit_remaining}`);
    }
    samples.sort((x, y) => x - y);
    console.info(`ShouldRateLimit over 2000 sequential calls (2 descriptors, 1 Redis budget each): p50 ${percentile(samples, 50).toFixed(2)} ms, p99 ${percentile(samples, 99).toFixed(2)} ms`);
    // Each address was new, so every call spent its first point of a fresh budget.
    expect([...codes]).toEqual(["OK 999999"]);
  });
});
