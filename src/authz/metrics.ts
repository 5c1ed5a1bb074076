import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { SessionEvent } from "../contract/session-events.js";
import type { Decision } from "./decision.js";

export type Transport = "grpc" | "http";

export interface AuthzMetrics {
  registry: Registry;
  observe(transport: Transport, decision: Decision | "error", seconds: number): void;
  setDegraded(active: boolean): void;
  setRevocationsLive(live: boolean): void;
  /** Counts a lookup in one of the in-process caches. */
  cacheLookup(cache: "session" | "token", hit: boolean): void;
  /** A revocation event's cache drop is done: how long after its publication (the event's atMs), by this machine's clock. */
  revocationApplied(event: SessionEvent, nowMs: number): void;
  redisError(): void;
}

/** A registry per server instance, so tests can run several in one process. */
export function createAuthzMetrics(): AuthzMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const checks = new Counter({
    name: "authz_checks_total",
    help: "Checks answered, by transport, decision and reason",
    labelNames: ["transport", "decision", "reason"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "authz_check_duration_seconds",
    help: "Time to decide a Check",
    labelNames: ["transport"] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [registry],
  });
  const degraded = new Gauge({
    name: "authz_degraded",
    help: "1 while Redis is unreachable and access tokens pass without a session check (AUTHZ_DEGRADED_MODE=allow_tokens)",
    registers: [registry],
  });
  const revocations = new Gauge({
    name: "authz_revocations_subscribed",
    help: "1 while revocation events are followed (caches in use)",
    registers: [registry],
  });
  const lookups = new Counter({
    name: "authz_cache_lookups_total",
    help: "Lookups in the in-process caches, by cache (session, token) and result (hit, miss); bypassed while revocation events are not followed",
    labelNames: ["cache", "result"] as const,
    registers: [registry],
  });
  const propagation = new Histogram({
    name: "authz_revocation_propagation_seconds",
    help: "From a revocation event's publication (Redis's clock) to this instance's cache drop, by event type",
    labelNames: ["event"] as const,
    // Pub/sub delivery on a healthy network is a millisecond or two; seconds mean a stalled subscriber or skewed clocks.
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const redisErrors = new Counter({
    name: "authz_redis_errors_total",
    help: "Redis client errors (lost connections, timeouts) of the session reads and the revocation subscriber",
    registers: [registry],
  });
  return {
    registry,
    revocationApplied(event, nowMs) {
      // A clock behind Redis's would read as negative lag: that is no lag, not a sample to drop.
      if (event.atMs !== undefined) propagation.observe({ event: event.type }, Math.max(0, nowMs - event.atMs) / 1000);
    },
    redisError: () => redisErrors.inc(),
    cacheLookup: (cache, hit) => lookups.inc({ cache, result: hit ? "hit" : "miss" }),
    observe(transport, decision, seconds) {
      if (decision === "error") checks.inc({ transport, decision: "error", reason: "internal" });
      else checks.inc({ transport, decision: decision.allow ? "allow" : "deny", reason: decision.reason });
      latency.observe({ transport }, seconds);
    },
    setDegraded: (active) => degraded.set(active ? 1 : 0),
    setRevocationsLive: (live) => revocations.set(live ? 1 : 0),
  };
}
