import { Redis, type RedisOptions as IoredisOptions } from "ioredis";

export interface RedisOptions {
  /** Every command fails after this long instead of waiting for a reconnect. */
  commandTimeoutMs?: number;
  onError?: (error: Error) => void;
  /** Applied last, over the defaults above, for connections with needs of their own (a subscriber). */
  ioredis?: Partial<IoredisOptions>;
}

export function createRedis(url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    lazyConnect: false,
    connectTimeout: 2000,
    commandTimeout: options.commandTimeoutMs ?? 2000,
    maxRetriesPerRequest: 1,
    // Queueing while disconnected would turn an outage into hung requests.
    enableOfflineQueue: false,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1000),
    ...options.ioredis,
  });
  redis.on("error", (error: Error) => options.onError?.(error));
  return redis;
}

/** Resolves once connected; commands fail fast while disconnected, so start-up must wait for this. */
export function redisReady(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off("ready", onReady);
      reject(new Error(`Redis not reachable within ${timeoutMs} ms (REDIS_URL)`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once("ready", onReady);
  });
}
