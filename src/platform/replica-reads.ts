import type { RedisClient } from "./redis.js";
import type pg from "pg";
import { isUnavailableFault } from "./errors.js";
import type { Logger } from "./log.js";
import type { ReplicaLagFloor } from "./replica-lag-floor.js";
import { withClient } from "./transaction.js";

/**
 * Read-your-writes over lagging replicas. After a write on behalf of a user,
 * `wrote` remembers the primary's WAL position in Redis (`ryw:{userId}`); a
 * read of that user's own data is served by a replica only once the replica
 * has replayed up to that position, otherwise by the primary.
 *
 * With a `lagFloor`, every replica read, marked or not, also needs the replica to have replayed the
 * floor (MAX_REPLICA_LAG): a replica further behind is out of the read path and the primary answers.
 * That also carries read-your-writes past the mark's TTL: a write older than the lag bound is on
 * every replica that may serve, so the mark must only outlive MAX_REPLICA_LAG.
 *
 * Security-critical reads (credentials, lockout/MFA state, signing keys,
 * revocation) never come through here: they use the write pool directly.
 */
export interface ReplicaReads {
  /** Call after a committed write on behalf of userId; never throws (a lost mark is logged). */
  wrote(userId: string): Promise<void>;
  /** A read of userId's own data, as fresh as that user's last write. */
  query<R extends pg.QueryResultRow>(userId: string, text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

export interface ReplicaReadsDeps {
  write: pg.Pool;
  read: pg.Pool;
  redis: RedisClient;
  log: Logger;
  /** How long a write pins its user's reads to replicas that have replayed it; replicas lag by ms, not minutes. Default 60 s. */
  ttlMs?: number;
  /** The WAL position every replica read must have replayed (replica-lag-floor.ts); none: replicas serve however far behind. */
  lagFloor?: Pick<ReplicaLagFloor, "required">;
}

// Keeps the larger of the stored and the new position, so concurrent writes cannot move it back.
const RECORD_MAX = `
local current = tonumber(redis.call('GET', KEYS[1]))
local next = tonumber(ARGV[1])
if current == nil or current < next then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1`;

// Positions as byte offsets (numeric text) so Redis can compare them; exact below 2^53 bytes of WAL.
const CURRENT_LSN = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::text AS lsn";
// NULL replay position means the server is not in recovery (HAProxy's backup: the primary), which is fresh by definition.
const REPLAYED_UP_TO =
  "SELECT coalesce(pg_last_wal_replay_lsn() - '0/0'::pg_lsn >= $1::numeric, true) AS fresh";

/** The Redis key of a user's read-your-writes mark, for erasing it with the user. */
export const readYourWritesKey = (userId: string) => `ryw:${userId}`;
const key = readYourWritesKey;

type Freshness = { kind: "none" } | { kind: "lsn"; lsn: string } | { kind: "unknown" };

/** The later of two WAL positions (numeric text, compared as numbers: exact below 2^53). */
const later = (a: string | undefined, b: string | undefined) => (a === undefined ? b : b === undefined || Number(a) >= Number(b) ? a : b);

/** Without replicas every read is fresh, so there is nothing to record. */
function primaryReads(primary: pg.Pool): ReplicaReads {
  return { wrote: async () => {}, query: (_userId, text, values) => primary.query(text, values) };
}

export function createReplicaReads(deps: ReplicaReadsDeps): ReplicaReads {
  const { write, read, redis, log } = deps;
  const ttlMs = deps.ttlMs ?? 60_000;

  if (read === write) return primaryReads(write);

  async function lastWrite(userId: string): Promise<Freshness> {
    try {
      const lsn = await redis.get(key(userId));
      return lsn === null ? { kind: "none" } : { kind: "lsn", lsn };
    } catch (error) {
      log.warn({ err: error, userId }, "read-your-writes mark unreadable; reading from the primary");
      return { kind: "unknown" };
    }
  }

  /** The replica answers only if it has replayed `lsn`; check and read share one connection, since HAProxy balances per connection. */
  async function onCaughtUpReplica<R extends pg.QueryResultRow>(lsn: string, text: string, values?: unknown[]) {
    return withClient(
      read,
      async (client) => {
        const check = await client.query<{ fresh: boolean }>(REPLAYED_UP_TO, [lsn]);
        return check.rows[0]?.fresh ? await client.query<R>(text, values) : undefined;
      },
      // Only reads ran, so nothing needs undoing; any failure may mean a replica going away, not worth reusing.
      () => true,
    );
  }

  /** A pool that cannot be reached hands the read to the other one: stale-but-available beats failing when the primary is down. */
  async function preferring<T>(first: () => Promise<T>, second: () => Promise<T>, what: string): Promise<T> {
    try {
      return await first();
    } catch (error) {
      if (!isUnavailableFault(error)) throw error;
      log.warn({ err: error }, `${what} unreachable; reading from the other pool`);
      return second();
    }
  }

  return {
    async wrote(userId) {
      try {
        // After commit, on any primary connection: the WAL position is server-wide, and one taken
        // inside the writing transaction would precede its commit record.
        const { rows } = await write.query<{ lsn: string }>(CURRENT_LSN);
        await redis.eval(RECORD_MAX, 1, key(userId), rows[0]!.lsn, String(ttlMs));
      } catch (error) {
        log.warn({ err: error, userId }, "could not record read-your-writes mark; this user's next read may be stale");
      }
    },

    async query<R extends pg.QueryResultRow>(userId: string, text: string, values?: unknown[]) {
      const fromPrimary = () => write.query<R>(text, values);
      const fromReplica = () => read.query<R>(text, values);
      const freshness = await lastWrite(userId);
      if (freshness.kind === "unknown") return preferring(fromPrimary, fromReplica, "primary");
      const required = later(freshness.kind === "lsn" ? freshness.lsn : undefined, deps.lagFloor?.required());
      if (required === undefined) return preferring(fromReplica, fromPrimary, "replica pool");
      const caughtUp = await preferring(() => onCaughtUpReplica<R>(required, text, values), async () => undefined, "replica pool");
      return caughtUp ?? preferring(fromPrimary, fromReplica, "primary");
    },
  };
}
