import { describe, expect, it } from "vitest";
import { createResetBudget } from "../../../src/platform/reset-budget.js";

const clockAt = (start = 0) => {
  const clock = { t: start, now: () => clock.t };
  return clock;
};

describe("the stream reset budget", () => {
  it("is spent by the reset past the budget, for that client only", () => {
    const budget = createResetBudget(3, 10_000, clockAt());
    expect([1, 2, 3].map(() => budget.spend("192.0.2.1"))).toEqual([false, false, false]);
    expect(budget.spent("192.0.2.1")).toBe(false);
    expect(budget.spend("192.0.2.1")).toBe(true);
    expect(budget.spent("192.0.2.1")).toBe(true);
    expect(budget.spent("192.0.2.2")).toBe(false);
  });

  it("counts resets across connections: a new connection does not start a new budget", () => {
    const budget = createResetBudget(2, 10_000, clockAt());
    budget.spend("2001:db8::/64");
    budget.spend("2001:db8::/64");
    // The first connection closed; the next one's first reset is already one too many.
    expect(budget.spend("2001:db8::/64")).toBe(true);
  });

  it("comes back once resets age out of the window, one at a time", () => {
    const clock = clockAt();
    const budget = createResetBudget(2, 10_000, clock);
    budget.spend("a");
    clock.t = 4000;
    budget.spend("a");
    budget.spend("a");
    expect(budget.spent("a")).toBe(true);
    clock.t = 9999;
    expect(budget.spent("a")).toBe(true);
    clock.t = 10_000;
    expect(budget.spent("a")).toBe(false);
    // Two resets of 4 s ago are still in the window: one more spends it again.
    expect(budget.spend("a")).toBe(true);
  });

  it("forgives a flood of resets as soon as the last of them ages out", () => {
    const clock = clockAt();
    const budget = createResetBudget(5, 10_000, clock);
    for (let i = 0; i < 100_000; i++) budget.spend("flood");
    clock.t = 10_000;
    budget.sweep();
    expect(budget.spent("flood")).toBe(false);
    expect(budget.spend("flood")).toBe(false);
  });
});
