import type { RedisClient } from "../platform/redis.js";
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { limiterKey } from "../contract/limiter-key.js";
import type { Descriptor, RateLimitRequest } from "./descriptors.js";
import { ruleName, UNIT_SECONDS, type GatewayRule } from "./rules.js";

/** A descriptor no rule matched is not limited; a matched one reports its budget after this request. */
export type DescriptorVerdict =
  | { limited: false; overLimit: false }
  | { limited: true; overLimit: boolean; rule: GatewayRule; remaining: number; msUntilReset: number };

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
  redis: RedisClient;
  domain: string;
  rules: GatewayRule[];
}

export function createGatewayLimiter(deps: GatewayLimiterDeps): GatewayLimiter {
  const limiters = new Map<string, { rule: GatewayRule; limiter: RateLimiterRedis }>();
  for (const rule of deps.rules) {
    limiters.set(ruleName(rule), {
      rule,
      // The auth service's library and Redis: one atomic script per charge, one count for every instance.
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
    const unlimited = { limited: false, overLimit: false } as const;
    if (descriptor.kind === "unmatched") return unlimited;
    const found = limiters.get(ruleName({ route: descriptor.route, subject: descriptor.kind }));
    if (!found) return unlimited;
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
    return { limited: true, overLimit, rule: found.rule, remaining: result.remainingPoints, msUntilReset: Math.max(0, result.msBeforeNext) };
  };

  return {
    async decide(request) {
      const descriptors = await Promise.all(request.descriptors.map((d) => judge(d, request.hits)));
      const spent = descriptors.flatMap((d) => (d.limited && d.overLimit ? [d.msUntilReset] : []));
      if (spent.length === 0) return { overLimit: false, descriptors };
      const ms = Math.max(...spent);
      return { overLimit: true, descriptors, retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)) };
    },
  };
}
