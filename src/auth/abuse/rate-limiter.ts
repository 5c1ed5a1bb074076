import type { HandlerContext } from "@connectrpc/connect";
import type { RedisClient } from "../../platform/redis.js";
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import type { Rate } from "../../platform/config.js";
import { limiterKey } from "../../contract/limiter-key.js";
import { retryLater } from "./retry-later.js";

export interface RateLimiter {
  /** Spends a point; refuses with RESOURCE_EXHAUSTED and `retry-after` once the window's budget is spent. */
  consume(ctx: HandlerContext, key: string): Promise<void>;
  /** Refuses if the budget is already spent, without spending. */
  check(ctx: HandlerContext, key: string): Promise<void>;
  /** Spends a point without refusing this request: a failure that counts against the next ones. */
  penalize(key: string): Promise<void>;
}

export interface RateLimiterDeps {
  redis: RedisClient;
  /** Namespaces the counters: one limiter per (operation, subject). */
  name: string;
  rate: Rate;
  /** What of the key is counted, e.g. an IPv6 client's /64 (client-network.ts). Default the key itself. */
  keyOf?: (key: string) => string;
  /** Told of every request this limiter refuses (metrics). */
  onRefused?: () => void;
}

/** The Redis key of a limiter's counter for `key` (rate-limiter-flexible's `<keyPrefix>:<key>`), for erasing it. */
export const counterKey = (name: string, key: string) => `rl:${name}:${limiterKey(key)}`;

export function createRateLimiter(deps: RateLimiterDeps): RateLimiter {
  // Redis-backed so every instance spends from the same counter (an atomic INCR + PEXPIRE script).
  const limiter = new RateLimiterRedis({
    storeClient: deps.redis,
    keyPrefix: `rl:${deps.name}`,
    points: deps.rate.points,
    duration: Math.ceil(deps.rate.durationMs / 1000),
  });
  const counted = (key: string) => limiterKey(deps.keyOf ? deps.keyOf(key) : key);
  return {
    async consume(ctx, key) {
      try {
        await limiter.consume(counted(key));
      } catch (rejected) {
        if (!(rejected instanceof RateLimiterRes)) throw rejected;
        deps.onRefused?.();
        throw retryLater(ctx, rejected.msBeforeNext);
      }
    },
    async check(ctx, key) {
      const state = await limiter.get(counted(key));
      if (state && state.consumedPoints >= deps.rate.points) {
        deps.onRefused?.();
        throw retryLater(ctx, state.msBeforeNext);
      }
    },
    async penalize(key) {
      await limiter.penalty(counted(key));
    },
  };
}
