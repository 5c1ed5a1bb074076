import type { Redis } from "ioredis";
import { keyspaceNodes, type RedisClient } from "../../platform/redis.js";
import { Gauge, type Registry } from "prom-client";
import { sessionKey } from "../../contract/session-record.js";
import type { Logger } from "../../platform/log.js";

export interface ActiveSessionsDeps {
  redis: RedisClient;
  registry: Registry;
  /** How often the count is taken; each count walks the keyspace once. */
  intervalMs: number;
  log: Logger;
}

export interface ActiveSessions {
  close(): void;
}

// session:{*} and not session:{<id>}:rotated: the pattern ends where a session key does.
const PATTERN = sessionKey("*");
// Keys per SCAN call: each call is short on Redis's one thread, and 1M keys take 1000 round trips.
const BATCH = 1000;

async function countOn(node: Redis): Promise<number> {
  let cursor = "0";
  let count = 0;
  do {
    const [next, keys] = await node.scan(cursor, "MATCH", PATTERN, "COUNT", BATCH);
    cursor = next;
    count += keys.length;
  } while (cursor !== "0");
  return count;
}

/**
 * auth_active_sessions: the sessions alive in Redis, counted by SCAN in the background every
 * `intervalMs` and reported as the last complete count, so a scrape never waits on it.
 *
 * Counted rather than kept: a session ends by its idle TTL inside Redis, which tells no one, so a
 * gauge moved by create and revoke would only grow; and a shared counter key would be one more
 * write per sign-in on one hot slot. A SCAN is O(keys) but incremental (BATCH keys a call, never
 * blocking Redis for long), at a rate the operator bounds; expired keys are not returned. SCAN may
 * return a key twice while Redis resizes its table: the count is approximate by that much.
 * Every instance counts the same keyspace: dashboards take max() over instances.
 */
export function startActiveSessions(deps: ActiveSessionsDeps): ActiveSessions {
  const gauge = new Gauge({ name: "auth_active_sessions", help: "Sessions alive in Redis at the last count (SCAN every few minutes; approximate)", registers: [deps.registry] });
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const count = async () => {
    try {
      const counts = await Promise.all(keyspaceNodes(deps.redis).map(countOn));
      if (!closed) gauge.set(counts.reduce((a, b) => a + b, 0));
    } catch (error) {
      // The last count stays; Redis being down is what auth_redis_up reports.
      deps.log.warn({ err: (error as Error).message }, "active sessions not counted");
    }
    if (!closed) timer = setTimeout(count, deps.intervalMs).unref();
  };
  void count();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
