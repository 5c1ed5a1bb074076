import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { DomainError, ERROR_CODES, isUnavailableFault, toConnectError } from "../../../src/platform/errors.js";

describe("toConnectError", () => {
  it("maps every domain error kind through the one table", () => {
    for (const [kind, code] of Object.entries(ERROR_CODES)) {
      const { error } = toConnectError(new DomainError(kind as keyof typeof ERROR_CODES, "message"));
      expect(error.code).toBe(code);
      expect(error.rawMessage).toBe("message");
    }
  });

  it("never exposes an unexpected error's message or stack", () => {
    const { error, fault } = toConnectError(new TypeError("cannot read properties of undefined (reading 'password_hash') at /srv/app.ts:12"));
    expect(fault).toBe(true);
    expect(error.code).toBe(Code.Internal);
    expect(error.rawMessage).toBe("internal error");
    expect(error.cause).toBeUndefined();
  });

  it("turns database and Redis outages into UNAVAILABLE", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6432"), { code: "ECONNREFUSED" });
    const shutdown = Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" });
    const redis = new Error("Stream isn't writeable and enableOfflineQueue options is false");
    // pg's own query_timeout: a statement stuck waiting on PgBouncer for a primary that is gone.
    const stuck = new Error("Query read timeout");
    // A Redis Cluster between a master's loss and its replica's promotion, or without a slot map yet.
    const cluster = ["CLUSTERDOWN The cluster is down", "TRYAGAIN Multiple keys request during rehashing of slot", "Cluster isn't ready and enableOfflineQueue options is false", "Failed to refresh slots cache."].map((m) => new Error(m));
    for (const e of [refused, shutdown, redis, stuck, new Error("Connection terminated unexpectedly"), ...cluster]) {
      expect(isUnavailableFault(e)).toBe(true);
      expect(toConnectError(e).error.code).toBe(Code.Unavailable);
    }
    expect(isUnavailableFault(Object.assign(new Error("duplicate key"), { code: "23505" }))).toBe(false);
  });

  it("passes the framework's own client-safe errors through", () => {
    const { error, fault } = toConnectError(new ConnectError("message size 100 is larger than configured readMaxBytes 10", Code.ResourceExhausted));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(fault).toBe(false);
  });
});
