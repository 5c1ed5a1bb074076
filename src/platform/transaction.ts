import type pg from "pg";
import { isUnavailableFault } from "./errors.js";

/** What both a pool and a client in a transaction can do: run a statement. */
export type Queryable = Pick<pg.PoolClient, "query">;

/**
 * Runs `work` on one checked-out connection, then gives the connection back, or discards it if it
 * emitted an error while out or if `discardAfter` judges that the error `work` threw left it unusable.
 */
export async function withClient<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  discardAfter: (error: unknown, client: pg.PoolClient) => boolean | Promise<boolean>,
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  // A checked-out client has no pool listener: a dropped connection would be an uncaught 'error' and crash the process.
  const onError = () => {
    broken = true;
  };
  client.on("error", onError);
  try {
    return await work(client);
  } catch (error) {
    if (await discardAfter(error, client)) broken = true;
    throw error;
  } finally {
    client.off("error", onError);
    client.release(broken);
  }
}

/** Runs `work` in one transaction on one connection; rolls back on any throw. */
export async function withTransaction<T>(pool: pg.Pool, work: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(
    pool,
    async (client) => {
      await client.query("BEGIN");
      const result = await work(client);
      await client.query("COMMIT");
      return result;
    },
    // A connection that cannot even roll back must not go back to the pool mid-transaction.
    // After a connection fault the server rolls back when the connection is dropped; a ROLLBACK
    // would only queue behind the dead server and double the time the caller waits.
    (error, client) => isUnavailableFault(error) || client.query("ROLLBACK").then(() => false, () => true),
  );
}
