import type pg from "pg";
import type { Db } from "./db.js";
import type { Tracing } from "./tracing.js";

// Statements are parameterized throughout ($1, ...): their text carries no value, but a few are long.
const MAX_STATEMENT_CHARS = 1024;

const textOf = (query: unknown): string => (typeof query === "string" ? query : typeof (query as { text?: unknown })?.text === "string" ? (query as { text: string }).text : "");
/** The statement's verb (SELECT, INSERT, BEGIN, WITH...), the span's name. */
const verbOf = (text: string): string => /^\s*([A-Za-z]+)/.exec(text)?.[1]?.toUpperCase() ?? "QUERY";

/**
 * A span per statement, as a child of the request that ran it. Spans start where the caller calls
 * `query` (pool.query, or a checked-out client's), never inside pg-pool: a queued checkout is
 * handed its client from another request's release, whose context is the wrong parent.
 */
export function traceDb(db: Db, tracing: Tracing): Db {
  if (!tracing.enabled) return db;
  const pools: Array<[string, pg.Pool]> = db.read === db.write ? [["write", db.write]] : [["write", db.write], ["read", db.read]];
  for (const [name, pool] of pools) {
    const traced = <Q extends (...args: never[]) => unknown>(query: Q): Q =>
      ((...args: Parameters<Q>) => {
        const text = textOf(args[0]);
        // A callback-style call keeps its callback; only the promise form (all of ours) is spanned.
        if (args.some((a) => typeof a === "function")) return query(...args);
        return tracing.client(
          verbOf(text),
          { "db.system.name": "postgresql", "db.client.connection.pool.name": name, "db.query.text": text.slice(0, MAX_STATEMENT_CHARS) },
          () => query(...args) as Promise<unknown>,
        );
      }) as Q;
    pool.query = traced(pool.query.bind(pool) as (...args: never[]) => unknown) as typeof pool.query;
    const connect = pool.connect.bind(pool);
    // pg-pool's own pool.query checks out with a callback: that path is spanned above, not again here.
    pool.connect = ((callback?: Parameters<pg.Pool["connect"]>[0]) => {
      if (callback) return connect(callback);
      return connect().then((client) => {
        const release = client.release;
        client.query = traced(client.query.bind(client) as (...args: never[]) => unknown) as typeof client.query;
        // Back in the pool the client serves pg-pool's own queries: its prototype's query again.
        client.release = (error?: Error | boolean) => {
          delete (client as Partial<pg.PoolClient>).query;
          client.release = release;
          return release.call(client, error);
        };
        return client;
      });
    }) as typeof pool.connect;
  }
  return db;
}
