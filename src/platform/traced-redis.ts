import type { Redis } from "ioredis";
import type { RedisClient } from "./redis.js";
import type { Tracing } from "./tracing.js";

type Command = Parameters<Redis["sendCommand"]>[0];

// Arguments stay out: they are session ids, token hashes and keys naming users.
const attributesOf = (name: string) => ({ "db.system.name": "redis", "db.operation.name": name });

/**
 * A span per command, as a child of the request that sent it, for a client that sends each command
 * as it is called (every ioredis call, MULTI and pipelines included, goes through sendCommand).
 * Not for a client with enableAutoPipelining: it sends a tick later, from whichever request's
 * context scheduled the batch; wrap the calls of such a client with traceRedisCalls. A Cluster
 * sends every command through its own sendCommand too, so it is wrapped the same way.
 */
export function traceRedis<T extends RedisClient>(redis: T, tracing: Tracing): T {
  if (!tracing.enabled) return redis;
  const client = redis as Redis;
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((command: Command, ...rest: unknown[]) => {
    const name = command.name.toUpperCase();
    const sent = tracing.client(name, attributesOf(name), () => (send as (...args: unknown[]) => Promise<unknown>)(command, ...rest));
    // MULTI and pipelines drop what sendCommand returns and read the command's own promise: a
    // failure must not surface a second time here, as an unhandled rejection.
    sent.catch(() => {});
    return sent;
  }) as Redis["sendCommand"];
  return redis;
}

/** The named methods of `target`, each call in a span of its own started where it is called. */
export function traceRedisCalls<T extends object, K extends keyof T & string>(target: T, methods: readonly K[], tracing: Tracing): Pick<T, K> {
  if (!tracing.enabled) return target;
  const traced = {} as Pick<T, K>;
  for (const method of methods) {
    const call = (target[method] as (...args: unknown[]) => Promise<unknown>).bind(target);
    const name = method.toUpperCase();
    traced[method] = ((...args: unknown[]) => tracing.client(name, attributesOf(name), () => call(...args))) as T[K];
  }
  return traced;
}
