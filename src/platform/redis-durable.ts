import { setTimeout as sleep } from "node:timers/promises";
import { Cluster } from "ioredis";
import { DomainError } from "./errors.js";
import type { RedisClient } from "./redis.js";
import type { RedisDurability } from "./redis-target.js";

/** A command as ioredis' pipeline takes it: the name, then its arguments. */
export type RedisCommand = [string, ...(string | number)[]];

/**
 * Writes a client is told about (a session, a rotation, a revocation): sent with a WAIT behind them on
 * the same connection, so the answer comes only once `replicas` replicas of the slot's master hold
 * them and a failover of that master cannot lose them. Redis replicates asynchronously otherwise.
 */
export interface DurableWrites {
  /** Runs the command (its keys in one slot: it goes to one master) and waits; its reply, or its error. */
  write(command: RedisCommand): Promise<unknown>;
}

// Answers of a cluster node that did not run the command: the slot moved (a failover, a resharding)
// or is moving, or has no master yet. Safe to send again once the slot map is fresh.
const NOT_RUN = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /;
const ATTEMPTS = 10;
const RETRY_MS = 100;

export function createDurableWrites(redis: RedisClient, durability: RedisDurability): DurableWrites {
  const waits = durability.replicas > 0;
  // ioredis follows MOVED and ASK for a single command but not for a pipeline whose commands answer
  // differently (the WAIT behind a refused write answers normally), so those are retried here.
  async function once(command: RedisCommand): Promise<[Error | null, unknown, unknown]> {
    const replies = (await redis.pipeline(waits ? [command, ["wait", durability.replicas, durability.timeoutMs]] : [command]).exec()) ?? [];
    const [error, value] = replies[0] ?? [new Error("no reply"), undefined];
    return [error, value, replies[1]?.[0] ?? replies[1]?.[1]];
  }

  return {
    async write(command) {
      for (let attempt = 1; ; attempt++) {
        const [error, value, acknowledged] = await once(command);
        if (error && NOT_RUN.test(error.message) && redis instanceof Cluster && attempt < ATTEMPTS) {
          redis.refreshSlotsCache();
          await sleep(RETRY_MS);
          continue;
        }
        if (error) throw error;
        if (!waits) return value;
        if (acknowledged instanceof Error) throw acknowledged;
        // Applied on the master, but a failover now could lose it: the client must not take it as done.
        if (!(Number(acknowledged) >= durability.replicas)) {
          throw new DomainError("unavailable", "the session store could not replicate the change in time; retry", {
            cause: new Error(`WAIT ${durability.replicas} ${durability.timeoutMs}: ${String(acknowledged)} replicas acknowledged`),
          });
        }
        return value;
      }
    },
  };
}
