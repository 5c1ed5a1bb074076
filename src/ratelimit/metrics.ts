import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { RateLimitVerdict } from "./limiter.js";
import { ruleName } from "./rules.js";

export type Outcome = "ok" | "over_limit" | "invalid" | "unavailable";

export interface RateLimitMetrics {
  registry: Registry;
  observe(outcome: Outcome, seconds: number, verdict?: RateLimitVerdict): void;
}

/** A registry per server instance, so tests can run several in one process. */
export function createRateLimitMetrics(): RateLimitMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const calls = new Counter({
    name: "ratelimit_calls_total",
    help: "ShouldRateLimit calls by outcome (invalid: refused as malformed; unavailable: Redis failed, Envoy let the request through)",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  // One series per configured rule and code: bounded by RATE_LIMIT_GATEWAY_RULES, never by client input.
  const budgets = new Counter({
    name: "ratelimit_budget_charges_total",
    help: "Charges to each gateway budget, by rule and whether it was already spent",
    labelNames: ["rule", "code"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "ratelimit_call_duration_seconds",
    help: "Time to answer ShouldRateLimit",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [registry],
  });
  return {
    registry,
    observe(outcome, seconds, verdict) {
      calls.inc({ outcome });
      latency.observe(seconds);
      for (const d of verdict?.descriptors ?? []) if (d.limited) budgets.inc({ rule: ruleName(d.rule), code: d.overLimit ? "over_limit" : "ok" });
    },
  };
}
