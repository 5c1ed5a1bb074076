import { Code, ConnectError, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { createDb, type Db } from "../../../src/platform/db.js";
import { deadlineInterceptor, outlivingCall } from "../../../src/platform/request-deadline.js";

/** Runs `work` as the body of an RPC whose signal is `signal`, through the interceptor the auth service installs. */
function asCall<T>(signal: AbortSignal, work: () => Promise<T>): Promise<T> {
  let result!: Promise<T>;
  const next = () => {
    result = work();
    return result.then(() => ({}) as UnaryResponse);
  };
  void deadlineInterceptor(next as never)({ signal } as UnaryRequest).catch(() => {});
  return result;
}

const deadlineIn = (ms: number) => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)), ms);
  return controller.signal;
};

describe("an RPC's deadline reaches the database pool", () => {
  let db: Db;
  beforeAll(() => {
    // One connection and a long connect timeout: a waiter that ignored its deadline would wait 10 s.
    db = createDb({ writeUrl: inject("stack").primaryUrl, max: 1, connectTimeoutMs: 10_000 });
  });
  afterAll(async () => {
    await db?.close();
  });

  it("a call whose deadline passes while it waits for a connection gives its place up at once, and runs nothing", async () => {
    const held = await db.write.connect();
    let ran = 0;
    try {
      const started = performance.now();
      const waiters = Array.from({ length: 5 }, () =>
        asCall(deadlineIn(200), async () => {
          await db.write.query("SELECT 1");
          ran += 1;
        }).then(
          () => "ran",
          (error: unknown) => ConnectError.from(error).code,
        ),
      );
      expect(db.write.waitingCount).toBe(5);
      const outcomes = await Promise.all(waiters);
      expect(outcomes).toEqual(Array(5).fill(Code.DeadlineExceeded));
      expect(performance.now() - started).toBeLessThan(5000);
      expect(db.write.waitingCount).toBe(0);
    } finally {
      held.release();
    }
    // The connection they would have been handed is free for the next live call, and none of them ran later.
    expect((await db.write.query("SELECT 1 AS one")).rows[0].one).toBe(1);
    expect(ran).toBe(0);
    expect(db.write.idleCount).toBe(1);
  });

  it("a call already past its deadline takes no connection; a call within it runs, in a transaction too", async () => {
    const expired = new AbortController();
    expired.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
    await expect(asCall(expired.signal, () => db.write.query("SELECT 1"))).rejects.toMatchObject({ code: Code.DeadlineExceeded });
    const live = await asCall(deadlineIn(5000), async () => {
      const client = await db.write.connect();
      try {
        return (await client.query("SELECT 2 AS two")).rows[0].two;
      } finally {
        client.release();
      }
    });
    expect(live).toBe(2);
    expect(db.write.totalCount).toBeLessThanOrEqual(1);
  });

  it("what must follow a call's effect (its audit row, a committed revocation) still runs past its deadline", async () => {
    const held = await db.write.connect();
    const after = asCall(deadlineIn(100), () => outlivingCall(() => db.write.query("SELECT 4 AS four")));
    await new Promise((resolve) => setTimeout(resolve, 300));
    held.release();
    expect((await after).rows[0].four).toBe(4);
  });

  it("work outside any RPC (the sweeper, the mail worker) waits as before", async () => {
    expect((await db.write.query("SELECT 3 AS three")).rows[0].three).toBe(3);
  });
});
