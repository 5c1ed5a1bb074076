import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadRateLimitConfig } from "../../../src/ratelimit/config.js";
import { parseGatewayRules } from "../../../src/ratelimit/rules.js";

const REDIS = { REDIS_URL: "redis://127.0.0.1:6379" };

describe("loadRateLimitConfig", () => {
  it("defaults to per-client budgets on the public sign-in routes", () => {
    const config = loadRateLimitConfig(REDIS);
    expect(config).toMatchObject({ host: "127.0.0.1", port: 7004, httpPort: 7005, domain: "gateway", redisTimeoutMs: 200 });
    expect(config.rules.map((r) => `${r.route}:${r.subject}`)).toEqual(["signin-page:ip", "signin:ip", "complete-signin:ip", "signup:ip", "password-reset:ip"]);
    expect(config.rules.find((r) => r.route === "signin")).toEqual({ route: "signin", subject: "ip", points: 20, unit: "MINUTE" });
  });

  it("replaces the defaults with RATE_LIMIT_GATEWAY_RULES, and `none` turns them all off", () => {
    const config = loadRateLimitConfig({ ...REDIS, RATE_LIMIT_GATEWAY_RULES: "signin:ip=3/1s, signup:route=600/1h,x-1:ip=1/1d" });
    expect(config.rules).toEqual([
      { route: "signin", subject: "ip", points: 3, unit: "SECOND" },
      { route: "signup", subject: "route", points: 600, unit: "HOUR" },
      { route: "x-1", subject: "ip", points: 1, unit: "DAY" },
    ]);
    expect(loadRateLimitConfig({ ...REDIS, RATE_LIMIT_GATEWAY_RULES: "none" }).rules).toEqual([]);
  });

  it("names every bad variable and quotes every bad rule at once", () => {
    let error: unknown;
    try {
      loadRateLimitConfig({ RATE_LIMIT_PORT: "70000", RATE_LIMIT_DOMAIN: "a b", RATE_LIMIT_GATEWAY_RULES: "signin:ip=20/15m,Sign:ip=1/1m,signin:user=1/1m,signin:ip=0/1m,signin=20" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join("\n");
    expect(problems).toContain("REDIS_URL is required");
    expect(problems).toContain("RATE_LIMIT_PORT must be an integer from 0 to 65535");
    expect(problems).toContain('RATE_LIMIT_DOMAIN must be letters');
    expect(problems).toContain('"signin:ip=20/15m" the window must be one of 1s, 1m, 1h, 1d');
    expect(problems).toContain('"Sign:ip=1/1m" the route must be lower-case');
    expect(problems).toContain('"signin:user=1/1m" the subject must be ip');
    expect(problems).toContain('"signin:ip=0/1m" points must be at least 1');
    expect(problems).toContain('"signin=20" must read <route>:<ip|route>=<points>/<1s|1m|1h|1d>');
  });

  it("accepts the README's example and states its default table", () => {
    const readme = readFileSync(path.resolve(import.meta.dirname, "../../../README.md"), "utf8");
    const example = /^RATE_LIMIT_GATEWAY_RULES="([^"]+)"$/m.exec(readme)?.[1] ?? "";
    expect(loadRateLimitConfig({ ...REDIS, RATE_LIMIT_GATEWAY_RULES: example }).rules.map((r) => `${r.route}:${r.subject}=${r.points}/${r.unit}`)).toEqual([
      "signin:ip=20/MINUTE",
      "signup:ip=10/MINUTE",
      "signup:route=600/MINUTE",
    ]);
    const table = [...readme.matchAll(/^\| `([a-z-]+)` \| .+ \| (\d+) \/ min per IP \|$/gm)].map((m) => `${m[1]}:ip=${m[2]}/MINUTE`);
    expect(table).toEqual(loadRateLimitConfig(REDIS).rules.map((r) => `${r.route}:${r.subject}=${r.points}/${r.unit}`));
  });

  it("refuses one route and subject budgeted twice", () => {
    const problems: string[] = [];
    expect(parseGatewayRules("R", "signin:ip=1/1m,signin:ip=2/1h,signin:route=5/1m", problems)).toHaveLength(2);
    expect(problems).toEqual(['R: "signin:ip=2/1h" the same route and subject appear twice']);
  });
});
