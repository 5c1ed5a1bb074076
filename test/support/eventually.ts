import { setTimeout as sleep } from "node:timers/promises";

/**
 * Polls `check` every 50 ms until it yields a value other than undefined or false, and returns
 * that value with the time it took; throws naming `what` (and the last error) after `timeoutMs`.
 */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  let last: unknown;
  while (Date.now() - start < timeoutMs) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return { value, ms: Date.now() - start };
    } catch (error) {
      last = error;
    }
    await sleep(50);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ""}`);
}
