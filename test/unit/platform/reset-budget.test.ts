import { describe, expect, it } from "vitest";
import { createResetBudget, type ResetBudget } from "../../../src/platform/reset-budget.js";

const clockAt = (start = 0) => {
  const clock = { t: start, now: () => clock.t };
  return clock;
};

/** `n` resets of `client`; the last answer. */
const attack = (budget: ResetBudget, client: string, n: number) => {
  let over = false;
  for (let i = 0; i < n; i++) over = budget.reset(client);
  return over;
};

describe("the stream reset budget", () => {
  it("is spent by the reset past the budget, for that client only", () => {
    const budget = createResetBudget(3, 10_000, clockAt());
    expect(attack(budget, "192.0.2.1", 3)).toBe(false);
    expect(budget.spent("192.0.2.1")).toBe(false);
    expect(attack(budget, "192.0.2.1", 1)).toBe(true);
    expect(budget.spent("192.0.2.1")).toBe(true);
    expect(budget.spent("192.0.2.2")).toBe(false);
  });

  it("counts resets across connections: a new connection does not start a new budget", () => {
    const budget = createResetBudget(2, 10_000, clockAt());
    attack(budget, "2001:db8::/64", 2);
    // The first connection closed; the next one's first reset is already one too many.
    expect(attack(budget, "2001:db8::/64", 1)).toBe(true);
  });

  it("forgives a window's resets as the window slides past them", () => {
    const clock = clockAt();
    const budget = createResetBudget(100, 10_000, clock);
    expect(attack(budget, "a", 150)).toBe(true);
    // The next window began at 10 s; at 13 s 70% of the last one still overlaps the last 10 s: an
    // estimated 105 resets, over the budget; at 15 s half of it, 75, under.
    clock.t = 13_000;
    expect(budget.spent("a")).toBe(true);
    clock.t = 15_000;
    expect(budget.spent("a")).toBe(false);
  });

  it("keeps constant memory per client however many resets come, and forgets clients quiet for two windows", () => {
    const clock = clockAt();
    const budget = createResetBudget(5, 10_000, clock);
    expect(attack(budget, "flood", 100_000)).toBe(true);
    clock.t = 20_000;
    budget.sweep();
    expect(budget.spent("flood")).toBe(false);
    expect(attack(budget, "flood", 5)).toBe(false);
  });
});
