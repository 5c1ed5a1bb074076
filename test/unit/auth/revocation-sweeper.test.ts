import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { startRevocationSweeper, type SessionRevocations } from "../../../src/auth/sessions/session-revocations.js";
import { createLogger } from "../../../src/platform/log.js";

/** Revocations whose sweeps answer as `answers` says, one per sweep; the rest apply nothing. */
function revocationsAnswering(answers: Array<() => Promise<number>>) {
  let sweeps = 0;
  const revocations: SessionRevocations = {
    record: () => Promise.reject(new Error("not in this test")),
    apply: () => Promise.reject(new Error("not in this test")),
    sweep: () => (answers[sweeps++] ?? (() => Promise.resolve(0)))(),
  };
  return { revocations, sweeps: () => sweeps };
}

describe("the revocation sweeper", () => {
  it("runs the next sweep after one that never answers: a hung Redis command must not end the sweeping", async () => {
    const { revocations, sweeps } = revocationsAnswering([() => new Promise<number>(() => {}), () => Promise.resolve(1)]);
    const sweeper = startRevocationSweeper({ revocations, intervalMs: 20, log: createLogger("silent"), stallMs: 100 });
    try {
      await sleep(400);
      expect(sweeps()).toBeGreaterThanOrEqual(2);
    } finally {
      await sweeper.close();
    }
  });

  it("never runs two sweeps at once while one is only slow", async () => {
    let inFlight = 0;
    let most = 0;
    const slow = () => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      return sleep(60).then(() => ((inFlight -= 1), 0));
    };
    const { revocations, sweeps } = revocationsAnswering(Array.from({ length: 20 }, () => slow));
    const sweeper = startRevocationSweeper({ revocations, intervalMs: 10, log: createLogger("silent"), stallMs: 1000 });
    await sleep(300);
    await sweeper.close();
    expect(sweeps()).toBeGreaterThan(1);
    expect(most).toBe(1);
  });
});
