import type { Redis } from "ioredis";
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { limiterKey } from "../auth/abuse/limiter-key.js";
import type { Descriptor, RateLimitRequest } from "./descriptors.js";
import { ruleName, UNIT_SECONDS, type GatewayRule } from "./rules.js";

export interface DescriptorVerdict {
  overLimit: boolean;
  /** Absent when no rule matched: the descriptor is not limited. */
  rule?: GatewayRule;
  remaining?: number;
  msUntilReset?: number;
}

export interface RateLimitVerdict {
  overLimit: boolean;
  descriptors: DescriptorVerdict[];
  /** RFC 9110 10.2.3 delay-seconds until every spent budget has a point again; set when over limit. */
  retryAfterSeconds?: number;
}

export interface GatewayLimiter {
  /** Charges every matched budget (all of them, as Envoy's RLS contract asks) and says whether any is spent. Throws when Redis fails. */
  decide(request: RateLimitRequest): Promise<RateLimitVerdict>;
}

export interface GatewayLimiterDeps {
  redis: Redis;
  domain: string;
  rules: GatewayRule[];
}

export function createGatewayLimiter(deps: GatewayLimiterDeps): GatewayLimiter {
  const limiters = new Map<string, { rule: GatewayRule; limiter: RateLimiterRedis }>();
  for (const rule of deps.rules) {
    limiters.set(ruleName(rule), {
      rule,
      // The auth service's library and Redis: one INCR + PEXPIRE script per budget, shared by every instance.
      limiter: new RateLimiterRedis({
        storeClient: deps.redis,
        keyPrefix: `rl:gw:${deps.domain}:${ruleName(rule)}`,
        points: rule.points,
        duration: UNIT_SECONDS[rule.unit],
        // Fail at once while disconnected instead of waiting out a timeout: Envoy is holding the request.
        rejectIfRedisNotReady: true,
      }),
    });
  }

  const judge = async (descriptor: Descriptor, hits: number): Promise<DescriptorVerdict> => {
    if (descriptor.kind === "unmatched") return { overLimit: false };
    const found = limiters.get(`${descriptor.route}:${descriptor.kind}`);
    if (!found) return { overLimit: false };
    // Client addresses enter Redis keys only as digests, as in the auth service's budgets.
    const key = descriptor.kind === "ip" ? limiterKey(descriptor.ip) : "all";
    let result: RateLimiterRes;
    let overLimit = false;
    try {
      result = await found.limiter.consume(key, hits);
    } catch (rejected) {
      if (!(rejected instanceof RateLimiterRes)) throw rejected;
      result = rejected;
      overLimit = true;
    }
    return { overLimit, rule: found.rule, remaining: result.remainingPoints, msUntilReset: result.msBeforeNext };
  };

  return {
    async decide(request) {
      const descriptors = await Promise.all(request.descriptors.map((d) => judge(d, request.hits)));
      const spent = descriptors.filter((d) => d.overLimit);
      if (spent.length === 0) return { overLimit: false, descriptors };
      const ms = Math.max(...spent.map((d) => d.msUntilReset ?? 0));
      return { overLimit: true, descriptors, retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)) };
    },
  };
}
