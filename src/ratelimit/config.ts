import { ConfigError, EnvReader, LOG_LEVELS } from "../platform/config.js";
import { readRedisTarget, type RedisTarget } from "../platform/redis-target.js";
import { DEFAULT_GATEWAY_RULES, parseGatewayRules, type GatewayRule } from "./rules.js";

export { ConfigError };

export interface RateLimitConfig {
  /** RATE_LIMIT_HOST, default 127.0.0.1: only Envoy should reach it. */
  host: string;
  /** RATE_LIMIT_PORT, default 7004: envoy.service.ratelimit.v3.RateLimitService and grpc.health.v1. */
  port: number;
  /** RATE_LIMIT_HTTP_PORT, default 7005: /metrics, /healthz, /readyz. */
  httpPort: number;
  /** REDIS_URL or REDIS_CLUSTER_NODES: the counters, in the same Redis as the auth service's budgets. One is required. */
  redis: RedisTarget;
  /** RATE_LIMIT_REDIS_TIMEOUT, default 200ms: below Envoy's 0.25s call timeout, so Redis trouble is an answer, not a hang. */
  redisTimeoutMs: number;
  /** RATE_LIMIT_DOMAIN, default gateway: the `domain` of envoy.yaml's rate limit filter; other domains are refused. */
  domain: string;
  /** RATE_LIMIT_GATEWAY_RULES: comma-separated `<route>:<ip|route>=<points>/<1s|1m|1h|1d>`, or none. Default DEFAULT_GATEWAY_RULES. */
  rules: GatewayRule[];
  /** LOG_LEVEL, default info. */
  logLevel: string;
}

type Env = Record<string, string | undefined>;

/** Reads the rate limit service's config from env, collecting every problem before failing once. */
export function loadRateLimitConfig(env: Env): RateLimitConfig {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);
  const domain = read.string("RATE_LIMIT_DOMAIN", "gateway");
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(domain)) problems.push(`RATE_LIMIT_DOMAIN must be letters, digits, ".", "_" or "-" (at most 64); got "${domain}"`);
  const config: RateLimitConfig = {
    host: read.string("RATE_LIMIT_HOST", "127.0.0.1"),
    port: read.port("RATE_LIMIT_PORT", 7004),
    httpPort: read.port("RATE_LIMIT_HTTP_PORT", 7005),
    redis: readRedisTarget(read),
    redisTimeoutMs: read.duration("RATE_LIMIT_REDIS_TIMEOUT", "200ms", 10_000),
    domain,
    rules: parseGatewayRules("RATE_LIMIT_GATEWAY_RULES", read.string("RATE_LIMIT_GATEWAY_RULES", DEFAULT_GATEWAY_RULES), problems),
    logLevel: read.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
