import { fileURLToPath } from "node:url";
import type { Logger } from "../platform/log.js";
import { createRedis, redisReady } from "../platform/redis.js";
import type { RateLimitConfig } from "./config.js";
import { startRateLimitGrpcServer, type ProtoDirs } from "./grpc-server.js";
import { createGatewayLimiter } from "./limiter.js";
import { ruleName } from "./rules.js";

export interface RateLimitServer {
  endpoint: { host: string; port: number };
  /** host:port for gRPC clients (Envoy's ratelimit cluster). */
  address: string;
  close(): Promise<void>;
}

export function defaultProtoDirs(): ProtoDirs {
  return {
    envoyApi: fileURLToPath(new URL("../../envoy/api", import.meta.url)),
    project: fileURLToPath(new URL("../../proto", import.meta.url)),
  };
}

/** Wires the rate limit service from config and starts it; the single place tests and main share. */
export async function startRateLimitServer(config: RateLimitConfig, options: { log: Logger; protoDirs?: ProtoDirs }): Promise<RateLimitServer> {
  const { log } = options;
  const redis = createRedis(config.redisUrl, {
    commandTimeoutMs: config.redisTimeoutMs,
    onError: (error) => log.warn({ err: error.message }, "redis error"),
  });
  const limiter = createGatewayLimiter({ redis, domain: config.domain, rules: config.rules });
  const serving = async () => {
    await redis.ping();
    return true;
  };
  try {
    // Commands fail at once while disconnected (rejectIfRedisNotReady): answer only once the counters are reachable.
    await redisReady(redis);
    const grpcServer = await startRateLimitGrpcServer(
      { limiter, domain: config.domain, serving, protoDirs: options.protoDirs ?? defaultProtoDirs(), log },
      config.host,
      config.port,
    );
    log.info({ rules: config.rules.map((r) => `${ruleName(r)}=${r.points}/${r.unit}`) }, "gateway budgets");
    return {
      endpoint: { host: config.host, port: grpcServer.port },
      address: `${config.host}:${grpcServer.port}`,
      async close() {
        await grpcServer.close();
        await redis.quit().catch(() => redis.disconnect());
      },
    };
  } catch (error) {
    redis.disconnect();
    throw error;
  }
}
