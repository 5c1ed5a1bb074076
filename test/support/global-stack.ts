import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
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
