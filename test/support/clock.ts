import type { Clock } from "../../src/platform/clock.js";

/** Real time plus an offset the test moves, so TOTP steps and expiries are chosen rather than waited for. */
export function steppingClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (ms) => void (offset += ms) };
}
