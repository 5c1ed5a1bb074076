import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { renderEnvoyConfig, type EnvoyRenderOptions, type GatewayTargets } from "../../src/stack/gateway-config.js";
import { findFreePort } from "../../src/stack/ports.js";
import { stopPid } from "../../src/stack/processes.js";
import { waitUntil } from "../../src/stack/readiness.js";
import { envoyBinary } from "./envoy-binary.js";
import { PATIENT_CALLOUT_MS } from "./gateway.js";

export const ENVOY_YAML = path.resolve(import.meta.dirname, "../../envoy/envoy.yaml");

export interface TestEnvoy {
  url: string;
  port: number;
  /** Envoy's admin listener: /stats, /ready. */
  adminUrl: string;
  stop(): Promise<void>;
}

/** `envoy --mode validate` on a rendered config: Envoy's own verdict, empty when it accepts it. */
export function validateEnvoyConfig(json: string): Promise<{ ok: boolean; output: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), "envoy-validate-"));
  const file = path.join(dir, "envoy.json");
  writeFileSync(file, json);
  return new Promise((resolve) => {
    const child = spawn(envoyBinary(), ["--mode", "validate", "-c", file, "--disable-hot-restart", "--log-level", "error"], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("exit", (code) => {
      rmSync(dir, { recursive: true, force: true });
      resolve({ ok: code === 0, output });
    });
  });
}

// Tests count answers, not milliseconds (PATIENT_CALLOUT_MS); the deployment's timeouts are
// checked in test/unit/authz/envoy-config.test.ts.
/**
 * The real Envoy with envoy/envoy.yaml rendered for `targets` (its listener on a free port), ready once its admin /ready says LIVE (clusters initialised, first health checks done).
 * Runs as the test's user; stopped by pid.
 */
export async function startTestEnvoy(targets: Omit<GatewayTargets, "listen">, options: Omit<EnvoyRenderOptions, "adminPort"> = {}): Promise<TestEnvoy> {
  // A port found free can be taken by a parallel test file before Envoy binds it: fresh ones fix that.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(targets, options);
    } catch (error) {
      if (attempt === 3 || !/Address already in use/.test((error as Error).message)) throw error;
    }
  }
}

async function startOnce(targets: Omit<GatewayTargets, "listen">, options: Omit<EnvoyRenderOptions, "adminPort">): Promise<TestEnvoy> {
  const dir = mkdtempSync(path.join(tmpdir(), "envoy-"));
  const port = await findFreePort();
  const adminPort = await findFreePort();
  const config = JSON.parse(renderEnvoyConfig(readFileSync(ENVOY_YAML, "utf8"), { ...targets, listen: { host: "127.0.0.1", port } }, { calloutTimeoutMs: PATIENT_CALLOUT_MS, ...options, adminPort }));
  const file = path.join(dir, "envoy.json");
  writeFileSync(file, JSON.stringify(config));
  const logFile = path.join(dir, "envoy.log");
  const out = openSync(logFile, "a");
  // One worker thread: the machine is small and shared; Envoy's behaviour does not depend on it.
  const child = spawn(envoyBinary(), ["-c", file, "--disable-hot-restart", "--concurrency", "1", "--log-level", "warn"], { stdio: ["ignore", out, out] });
  closeSync(out);
  const pid = child.pid ?? -1;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) await stopPid(pid, "SIGTERM", 5000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      async () => {
        const ready = await fetch(`http://127.0.0.1:${adminPort}/ready`).catch(() => undefined);
        return ready?.status === 200;
      },
      { what: `envoy on 127.0.0.1:${port}`, timeoutMs: 20_000, logFile, alive: () => child.exitCode === null && child.signalCode === null },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `http://127.0.0.1:${port}`, port, adminUrl: `http://127.0.0.1:${adminPort}`, stop };
}
