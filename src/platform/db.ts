import pg from "pg";

/**
 * Two pools: `write` for writes and reads that must be fresh (credentials,
 * revocation, a user's own writes), `read` for reads that may lag behind the
 * primary. Without a replica URL both are the same pool.
 *
 * No named prepared statements anywhere: PgBouncer in transaction mode
 * cannot keep them across transactions.
 */
export interface Db {
  write: pg.Pool;
  read: pg.Pool;
  close(): Promise<void>;
}

export interface DbOptions {
  writeUrl: string;
  readUrl?: string | undefined;
  /** Per-statement limit, so a stuck backend fails the request instead of hanging it. */
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
  max?: number;
  onError?: (error: Error) => void;
}

function createPool(url: string, options: DbOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 3000,
    query_timeout: options.statementTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    application_name: "auth-service",
  });
  // An idle client losing its server (restart, failover) must not crash the process.
  pool.on("error", (error) => options.onError?.(error));
  return pool;
}

export function createDb(options: DbOptions): Db {
  const write = createPool(options.writeUrl, options);
  const read = options.readUrl ? createPool(options.readUrl, options) : write;
  return {
    write,
    read,
    async close() {
      await write.end();
      if (read !== write) await read.end();
    },
  };
}
