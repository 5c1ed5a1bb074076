import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

export interface LoadSheddingDeps {
  /** The pools every RPC may wait on; what counts is how many callers already wait for a connection. */
  pools: ReadonlyArray<{ waitingCount: number }>;
  /** Callers allowed to wait for a database connection at once; beyond it an RPC is refused at once. */
  maxQueued: number;
}

/**
 * Bounds the work queued behind the database pools: past `maxQueued` waiters a new RPC fails fast
 * with UNAVAILABLE (retry elsewhere or later), instead of joining a queue whose wait would outlast
 * the caller's deadline and delay every client behind it. It sits inside the error interceptor, so
 * shed calls are logged and counted like any other.
 */
export function createLoadShedding(deps: LoadSheddingDeps): Interceptor {
  return (next) => async (req) => {
    const queued = deps.pools.reduce((sum, pool) => sum + pool.waitingCount, 0);
    if (queued >= deps.maxQueued) throw new ConnectError("server busy, retry", Code.Unavailable);
    return next(req);
  };
}
