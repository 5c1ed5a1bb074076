import type { Logger } from "../platform/log.js";
import { defaultProtoDirs, type ProtoDirs } from "../platform/proto-dirs.js";
import { createRedis, redisReady } from "../platform/redis.js";
import type { RateLimitConfig } from "./config.js";
import { startRateLimitGrpcServer } from "./grpc-server.js";
import { startRateLimitHttpServer } from "./http-server.js";
import { createGatewayLimiter } from "./limiter.js";
import { createRateLimitMetrics } from "./metrics.js";
import { ruleName } from "./rules.js";

export interface RateLimitServer {
  endpoint: { host: string; port: number };
  /** host:port for gRPC clients (Envoy's ratelimit cluster). */
  address: string;
  /** /metrics, /healthz, /readyz. */
  httpUrl: string;
  close(): Promise<void>;
}

/** Wires the rate limit service from config and starts it; the single place tests and main share. */
export async function startRateLimitServer(config: RateLimitConfig, options: { log: Logger; protoDirs?: ProtoDirs }): Promise<RateLimitServer> {
  const { log } = options;
  const redis = createRedis(config.redis, {
    commandTimeoutMs: config.redisTimeoutMs,
    onError: (error) => log.warn({ err: error.message }, "redis error"),
  });
  const limiter = createGatewayLimiter({ redis, domain: config.domain, rules: config.rules });
  const metrics = createRateLimitMetrics();
  const serving = async () => {
    await redis.ping();
    return true;
  };
  const closers: Array<() => Promise<unknown>> = [() => redis.quit().catch(() => redis.disconnect())];
  const close = async () => {
    for (const closer of closers) await closer().catch(() => {});
  };
  try {
    // Commands fail at once while disconnected (rejectIfRedisNotReady): answer only once the counters are reachable.
    await redisReady(redis, config.redis);
    const grpcServer = await startRateLimitGrpcServer(
      { limiter, metrics, domain: config.domain, serving, protoDirs: options.protoDirs ?? defaultProtoDirs(), log },
      config.host,
      config.port,
    );
    closers.unshift(() => grpcServer.close());
    const httpServer = await startRateLimitHttpServer({ metrics, serving, log }, config.host, config.httpPort);
    closers.unshift(() => httpServer.close());
    log.info({ rules: config.rules.map((r) => `${ruleName(r)}=${r.points}/${r.unit}`) }, "gateway budgets");
    return {
      endpoint: { host: config.host, port: grpcServer.port },
      address: `${config.host}:${grpcServer.port}`,
      httpUrl: `http://${config.host}:${httpServer.port}`,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
