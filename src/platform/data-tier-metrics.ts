import type pg from "pg";
import { Counter, Gauge, type Registry } from "prom-client";
import type { RedisClient } from "./redis.js";
import type { Db } from "./db.js";

export interface DataTierMetricsDeps {
  /** Metric name prefix, the service's own (`auth`). */
  prefix: string;
  db: Db;
  redis: RedisClient;
}

// What a scrape may spend per probe: a dead dependency answers 0, it never stalls the scrape.
const PROBE_TIMEOUT_MS = 1000;

/** Resolves with `work`'s value, or rejects after PROBE_TIMEOUT_MS. */
function bounded<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("probe timed out")), PROBE_TIMEOUT_MS);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

// Lag of the replica this read path reaches (HAProxy picks one per connection). A replica that
// has replayed everything it received is 0 however long ago the last write was; the primary
// (HAProxy's backup when no replica is up) is 0 by definition.
const REPLICA_LAG_SQL = `SELECT CASE
  WHEN NOT pg_is_in_recovery() THEN 0
  WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
  ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
END::float8 AS lag`;

/**
 * Reachability, errors, pool saturation and replica lag of a service's Postgres pools and Redis
 * client, measured when Prometheus scrapes (deploy/prometheus/rules/*.yml alert on them):
 *
 *   <prefix>_redis_up, <prefix>_redis_errors_total
 *   <prefix>_postgres_up{pool}, <prefix>_postgres_errors_total{pool}   pool = write | read
 *   <prefix>_postgres_pool_connections{pool,state}, <prefix>_postgres_pool_max{pool}
 *   <prefix>_replica_lag_seconds                                        (only with a read pool)
 */
export function registerDataTierMetrics(registry: Registry, deps: DataTierMetricsDeps): void {
  const { prefix, db, redis } = deps;
  const pools: Array<[string, pg.Pool]> = db.read === db.write ? [["write", db.write]] : [["write", db.write], ["read", db.read]];

  const redisErrors = new Counter({ name: `${prefix}_redis_errors_total`, help: "Redis client errors (lost connections, timeouts)", registers: [registry] });
  redis.on("error", () => redisErrors.inc());
  new Gauge({
    name: `${prefix}_redis_up`,
    help: "1 if Redis answered PING at the last scrape",
    registers: [registry],
    async collect() {
      this.set(await bounded(redis.ping()).then(() => 1, () => 0));
    },
  });

  const pgErrors = new Counter({ name: `${prefix}_postgres_errors_total`, help: "Postgres errors on idle pooled connections (server lost)", labelNames: ["pool"] as const, registers: [registry] });
  for (const [name, pool] of pools) {
    pgErrors.inc({ pool: name }, 0);
    pool.on("error", () => pgErrors.inc({ pool: name }));
  }
  new Gauge({
    name: `${prefix}_postgres_up`,
    help: "1 if the pool's Postgres answered SELECT 1 at the last scrape",
    labelNames: ["pool"] as const,
    registers: [registry],
    async collect() {
      await Promise.all(pools.map(async ([name, pool]) => this.set({ pool: name }, await bounded(pool.query("SELECT 1")).then(() => 1, () => 0))));
    },
  });
  new Gauge({
    name: `${prefix}_postgres_pool_connections`,
    help: "Client pool connections: total open, idle, and requests waiting for one",
    labelNames: ["pool", "state"] as const,
    registers: [registry],
    collect() {
      for (const [name, pool] of pools) {
        this.set({ pool: name, state: "total" }, pool.totalCount);
        this.set({ pool: name, state: "idle" }, pool.idleCount);
        this.set({ pool: name, state: "waiting" }, pool.waitingCount);
      }
    },
  });
  new Gauge({
    name: `${prefix}_postgres_pool_max`,
    help: "The most connections the pool opens",
    labelNames: ["pool"] as const,
    registers: [registry],
    collect() {
      for (const [name, pool] of pools) this.set({ pool: name }, pool.options.max ?? 10);
    },
  });
  if (db.read !== db.write) {
    new Gauge({
      name: `${prefix}_replica_lag_seconds`,
      help: "Replay lag of the replica the read path reached at the last scrape (0 when caught up, or when it is the primary)",
      registers: [registry],
      async collect() {
        const lag = await bounded(db.read.query<{ lag: number }>(REPLICA_LAG_SQL)).then((r) => r.rows[0]?.lag, () => undefined);
        // Unreachable is not "no lag": leave the series out, so the lag alert sees no data and the up alert fires.
        if (lag === undefined) this.reset();
        else this.set(lag);
      },
    });
  }
}
