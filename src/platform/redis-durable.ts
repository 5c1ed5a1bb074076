import { DomainError } from "./errors.js";
import type { RedisClient } from "./redis.js";
import type { RedisDurability } from "./redis-target.js";

/**
 * Writes a client is told about (a session, a rotation, a revocation): sent with a WAIT behind them on
 * the same connection, so the answer comes only once `replicas` replicas of the slot's master hold
 * them and a failover of that master cannot lose them. Redis replicates asynchronously otherwise.
 */
/** A command as ioredis' pipeline takes it: the name, then its arguments. */
export type RedisCommand = [string, ...(string | number)[]];

export interface DurableWrites {
  /** Runs the commands (all in one slot: they go to one master) and waits; their replies, or the first command's error. */
  write(...commands: RedisCommand[]): Promise<unknown[]>;
}

export function createDurableWrites(redis: RedisClient, durability: RedisDurability): DurableWrites {
  return {
    async write(...commands) {
      const wait: RedisCommand[] = durability.replicas > 0 ? [["wait", durability.replicas, durability.timeoutMs]] : [];
      const replies = (await redis.pipeline([...commands, ...wait]).exec()) ?? [];
      for (const [error] of replies) if (error) throw error;
      const values = replies.map(([, value]) => value);
      if (durability.replicas > 0) {
        const acknowledged = Number(values[commands.length]);
        // Applied on the master, but a failover now could lose it: the client must not take it as done.
        if (!(acknowledged >= durability.replicas)) {
          throw new DomainError("unavailable", "the session store could not replicate the change in time; retry", {
            cause: new Error(`WAIT ${durability.replicas} ${durability.timeoutMs}: ${acknowledged} replicas acknowledged`),
          });
        }
      }
      return values.slice(0, commands.length);
    },
  };
}
