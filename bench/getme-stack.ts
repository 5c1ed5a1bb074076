import { randomBytes, randomUUID } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AuthService } from "../src/gen/auth/v1/auth_pb.js";
import { createProcessManager, type ProcessManager } from "../src/stack/processes.js";
import { startStack, type RunningStack } from "../src/stack/stack.js";

export interface GetMeStack {
  dir: string;
  logsDir: string;
  procs: ProcessManager;
  stack: RunningStack;
  /** An auth service's env on this data tier (quiet logs), for startAuthInstance. */
  env: Record<string, string>;
}

/** The bench's data tier (no replicas) in a scratch directory, for the GetMe scripts; everything stops and goes afterwards. */
export async function withGetMeStack(prefix: string, run: (bench: GetMeStack) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  // As root the data tier runs as an unprivileged user that must reach its state here.
  chmodSync(dir, 0o755);
  const logsDir = path.join(dir, "logs");
  for (const sub of [logsDir, path.join(dir, "run")]) mkdirSync(sub, { recursive: true });
  const stack = await startStack({ dir, replicas: 0 });
  const procs = createProcessManager(path.join(dir, "run"));
  try {
    const env = {
      DATABASE_URL: stack.databaseUrl,
      DATABASE_PRIMARY_URL: stack.primaryUrl,
      REDIS_URL: stack.redisUrl!,
      SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      LOG_LEVEL: "silent",
    };
    await run({ dir, logsDir, procs, stack, env });
  } finally {
    await procs.stopAll();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const PASSWORD = "correct horse battery staple";

/** A new account at the auth service at `url`, with its password and a live session's access token. */
export async function newAccount(url: string): Promise<{ email: string; password: string; accessToken: string }> {
  const client = createClient(AuthService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
  const email = `bench-${randomUUID()}@example.com`;
  await client.signUp({ email, password: PASSWORD });
  return { email, password: PASSWORD, accessToken: (await client.signIn({ email, password: PASSWORD })).accessToken };
}

/** The access token of a new account's live session at the auth service at `url`. */
export async function newBearer(url: string): Promise<string> {
  return (await newAccount(url)).accessToken;
}
