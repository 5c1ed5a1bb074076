import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startAuthInstance } from "../src/stack/app-instances.js";
import { ensureCompiled } from "./compiled.js";
import { cpuProfiling, printProfile } from "./cpu-profile.js";
import { newAccount, withGetMeStack } from "./getme-stack.js";
import { h2loadPost } from "./load-generators.js";
import { cpuPerCallSince, DATA_TIER_PROGRAMS } from "./proc-stats.js";

/**
 * `npm run bench:profile-signin`: where a SignIn's CPU goes, beside its argon2 verify. One compiled
 * auth service under `node --cpu-prof` takes right-password SignIns from h2load (c=8, as the bench's
 * SignIn row) for BENCH_SECONDS (default 10), then stops; prints sign-ins per second, the CPU each
 * cost auth and the data tier, and the busiest functions and packages (argon2's hashing runs on
 * libuv's threads, outside the profile's JavaScript but inside the process CPU).
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

async function main(): Promise<void> {
  ensureCompiled(REPO_ROOT, (what) => console.error(what));
  await withGetMeStack("auth-profile-signin-", async ({ dir, logsDir, procs, stack, env: base }) => {
    const { profileDir, nodeFlags } = cpuProfiling(dir);
    // As the bench: limits and lockout would time their refusals instead of the sign-ins.
    const env = { ...base, RATE_LIMIT_SIGNIN_IP: "1000000/1m", LOCKOUT_THRESHOLD: "1000" };
    const auth = await startAuthInstance({ procs, logsDir, env, compiled: true, nodeFlags }, 0, 0);
    const { email, password } = await newAccount(auth.url);
    const bodyFile = path.join(dir, "signin.json");
    writeFileSync(bodyFile, JSON.stringify({ email, password }));
    const cpu = cpuPerCallSince(auth.pid, [dir, new URL(stack.redisUrl!).host], DATA_TIER_PROGRAMS);
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
