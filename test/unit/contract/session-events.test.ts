import { describe, expect, it } from "vitest";
import { parseSessionEvent } from "../../../src/contract/session-events.js";

describe("revocation events", () => {
  it("carry their publication time when the publisher stamped one, and parse without it too", () => {
    expect(parseSessionEvent('{"type":"session.revoked","sessionId":"s1","userId":"u1","atMs":1796000000123}')).toEqual({
      type: "session.revoked",
      sessionId: "s1",
      userId: "u1",
      atMs: 1796000000123,
    });
    expect(parseSessionEvent('{"type":"user.sessions_revoked","userId":"u1","beforeMs":5,"atMs":6}')).toEqual({ type: "user.sessions_revoked", userId: "u1", beforeMs: 5, atMs: 6 });
    expect(parseSessionEvent('{"type":"session.changed","sessionId":"s1","userId":"u1"}')).toEqual({ type: "session.changed", sessionId: "s1", userId: "u1" });
  });

  it("drop a stamp that is not a number, keeping the event", () => {
    expect(parseSessionEvent('{"type":"session.revoked","sessionId":"s1","userId":"u1","atMs":"soon"}')).toEqual({ type: "session.revoked", sessionId: "s1", userId: "u1" });
    expect(parseSessionEvent('{"type":"session.revoked","userId":"u1"}')).toBeUndefined();
    expect(parseSessionEvent("not json")).toBeUndefined();
  });
});
