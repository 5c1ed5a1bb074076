import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export const CHROMIUM_PATH = "/usr/bin/chromium";
export const CHROMIUM_INSTALL = "DEBIAN_FRONTEND=noninteractive apt-get install -y chromium";

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
 * Debian's chromium, installed with apt-get when missing and we are root. Otherwise the reason to
 * skip, naming the command to run, so a missing browser shows as a skipped test, never a pass.
 */
export function ensureChromium(): { path: string } | { skip: string } {
  if (existsSync(CHROMIUM_PATH)) return { path: CHROMIUM_PATH };
  if (process.getuid?.() !== 0) return { skip: `${CHROMIUM_PATH} not found; install it with: sudo ${CHROMIUM_INSTALL}` };
  const result = spawnSync("sh", ["-c", `apt-get update -qq && ${CHROMIUM_INSTALL}`], { stdio: "pipe", encoding: "utf8" });
  if (result.status === 0 && existsSync(CHROMIUM_PATH)) return { path: CHROMIUM_PATH };
  return { skip: `installing chromium failed (exit ${result.status}): ${(result.stderr ?? "").trim().split("\n").slice(-3).join(" ")}; run: ${CHROMIUM_INSTALL}` };
}
