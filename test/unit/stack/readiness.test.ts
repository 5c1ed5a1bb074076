import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { waitUntil } from "../../../src/stack/readiness.js";

describe("waitUntil", () => {
  it("quotes the component's log when it never comes up", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-unit-"));
    const logFile = path.join(dir, "c.log");
    fs.writeFileSync(logFile, "starting\nFATAL: could not bind port\n");
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
    await expect(waitUntil(async () => false, { what: "thing on port 1", timeoutMs: 50, logFile, intervalMs: 10 })).rejects.toThrow(
      /thing on port 1: not ready after 50 ms\nlast lines of .*c\.log:\nstarting\nFATAL: could not bind port/,
    );
  });

  it("fails fast when the process has exited, with the last check error", async () => {
    const started = Date.now();
    await expect(
      waitUntil(
        async () => {
          throw new Error("ECONNREFUSED");
        },
        { what: "redis", timeoutMs: 10_000, alive: () => false },
      ),
    ).rejects.toThrow("redis: its process exited (last error: ECONNREFUSED)");
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("resolves once the check passes", async () => {
    let calls = 0;
    await waitUntil(async () => ++calls === 3, { what: "x", timeoutMs: 1_000, intervalMs: 1 });
    expect(calls).toBe(3);
  });
});
