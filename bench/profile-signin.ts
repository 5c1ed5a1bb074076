import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AuthService } from "../src/gen/auth/v1/auth_pb.js";
import { startAuthInstance } from "../src/stack/app-instances.js";
import { ensureCompiled } from "./compiled.js";
import { printProfile } from "./cpu-profile.js";
import { withGetMeStack } from "./getme-stack.js";
import { h2loadPost } from "./load-generators.js";
import { cpuPerCallSince } from "./proc-stats.js";

/**
 * `npm run bench:profile-signin`: where a SignIn's CPU goes, beside its argon2 verify. One compiled
 * auth service under `node --cpu-prof` takes right-password SignIns from h2load (c=8, as the bench's
 * SignIn row) for BENCH_SECONDS (default 10), then stops; prints sign-ins per second, the CPU each
 * cost auth and the data tier, and the busiest functions and packages (argon2's hashing runs on
 * libuv's threads, outside the profile's JavaScript but inside the process CPU).
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const DATA_TIER = ["redis-server", "pgbouncer", "postgres"];
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
const PASSWORD = "correct horse battery staple";

async function main(): Promise<void> {
  ensureCompiled(REPO_ROOT, (what) => console.error(what));
  await withGetMeStack("auth-profile-signin-", async ({ dir, logsDir, procs, stack, env: base }) => {
    const profileDir = process.env.PROFILE_DIR ?? path.join(dir, "profile");
    mkdirSync(profileDir, { recursive: true });
    // As the bench: limits and lockout would time their refusals instead of the sign-ins.
    const env = { ...base, RATE_LIMIT_SIGNIN_IP: "1000000/1m", LOCKOUT_THRESHOLD: "1000" };
    const auth = await startAuthInstance({ procs, logsDir, env, compiled: true, nodeFlags: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] }, 0, 0);
    const email = `profile-${Date.now()}@example.com`;
    await createClient(AuthService, createConnectTransport({ baseUrl: auth.url, httpVersion: "1.1" })).signUp({ email, password: PASSWORD });
    const bodyFile = path.join(dir, "signin.json");
    writeFileSync(bodyFile, JSON.stringify({ email, password: PASSWORD }));
    const cpu = cpuPerCallSince(auth.pid, [dir, new URL(stack.redisUrl!).host], DATA_TIER);
    const result = await h2loadPost({ url: `${auth.url}/auth.v1.AuthService/SignIn`, bodyFile, headers: { "content-type": "application/json" }, clients: 8, length: { seconds: SECONDS }, logFile: path.join(dir, "h2load.log") });
    const { serviceUs, tier } = cpu(result.rps * SECONDS);
    const load = loadavg()[0]!.toFixed(1);
    // The profile is written as the process exits.
    await procs.stopAll();
    console.log(`SignIn c=8 for ${SECONDS} s: ${result.rps.toFixed(1)} sign-ins/s, p99 ${result.p99Ms.toFixed(1)} ms, ${result.failures} failures, ${(serviceUs / 1000).toFixed(2)} ms of auth CPU per sign-in (${tier}); load average ${load}`);
    printProfile(profileDir, REPO_ROOT);
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
