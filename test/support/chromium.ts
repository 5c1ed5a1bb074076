import { existsSync } from "node:fs";
import { ensurePrograms } from "../../src/stack/install.js";

export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Flags for a quiet, reproducible headless run: no network beyond the test's own, no first-run UI. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Debian's chromium, installed with apt-get when missing and we are root (taking turns on apt's
 * lock with the other files that install what they need). Otherwise the reason to skip, naming the
 * command to run, so a missing browser shows as a skipped test, never a pass; in CI a browser test
 * that cannot run fails instead, since a skip there would pass a run that tested no page.
 */
export function ensureChromium(): { path: string } | { skip: string } {
  const requirement = { name: "chromium", debianPackage: "chromium", locate: () => (existsSync(CHROMIUM_PATH) ? CHROMIUM_PATH : undefined) };
  try {
    return { path: ensurePrograms([requirement]).chromium! };
  } catch (error) {
    if (process.env.CI) throw error;
    return { skip: error instanceof Error ? error.message : String(error) };
  }
}
