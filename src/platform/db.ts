import pg from "pg";
import { acquireWithin, currentRequestSignal } from "./request-deadline.js";

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

type ConnectCallback = (error: Error | undefined, client: pg.PoolClient | undefined, release: (release?: unknown) => void) => void;

/**
 * A pool whose waiters give up at their RPC's deadline: without it a call past its deadline kept its
 * place in the queue until `connectionTimeoutMillis` and then ran its statements for nobody, delaying
 * every live call behind it, and it still counted against DB_MAX_QUEUED. `pool.query` goes through
 * `connect` too, so both honour the deadline.
 */
class CallBoundPool extends pg.Pool {
  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | void {
    const signal = currentRequestSignal();
    if (!signal) return callback ? super.connect(callback) : super.connect();
    const acquire = (cb: ConnectCallback) => {
      // pg-pool queues a waiter synchronously and drops it itself only on its own timeout; leaving
      // early means taking that same entry out (the deadline test fails if pg-pool changes this).
      const queue = (this as unknown as { _pendingQueue?: unknown[] })._pendingQueue;
      const before = queue?.length ?? 0;
      super.connect(cb);
      const entry = queue && queue.length > before ? queue[queue.length - 1] : undefined;
      return () => {
        const at = entry === undefined ? -1 : queue!.indexOf(entry);
        if (at >= 0) queue!.splice(at, 1);
      };
    };
    if (callback) return acquireWithin(acquire, signal, callback);
    return new Promise((resolve, reject) => acquireWithin(acquire, signal, (error, client) => (error || !client ? reject(error) : resolve(client))));
  }
}

function createPool(url: string, options: DbOptions): pg.Pool {
  const pool = new CallBoundPool({
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
