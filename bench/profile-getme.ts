import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startAuthInstance } from "../src/stack/app-instances.js";
import { ensureCompiled } from "./compiled.js";
import { cpuProfiling, printProfile } from "./cpu-profile.js";
import { newBearer, withGetMeStack } from "./getme-stack.js";
import { ghzGetMe } from "./load-generators.js";
import { cpuPerCallSince, DATA_TIER_PROGRAMS } from "./proc-stats.js";

/**
 * `npm run bench:profile-getme`: where a GetMe's CPU goes. One compiled auth service under
 * `node --cpu-prof` (the bench's data tier: no replicas) takes GetMe with one bearer from ghz at
 * c=64 for BENCH_SECONDS (default 10), then stops; prints the calls per second and the functions
 * and packages with the most self time. The profile stays in PROFILE_DIR if that is set.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

async function main(): Promise<void> {
  ensureCompiled(REPO_ROOT, (what) => console.error(what));
  await withGetMeStack("auth-profile-", async ({ dir, logsDir, procs, stack, env: base }) => {
    const { profileDir, nodeFlags } = cpuProfiling(dir);
    const env = {
      ...base,
      // The profile of another setting: VERIFIED_TOKEN_CACHE=off PROFILE_CACHE=off is GetMe as it was before the caches.
      ...Object.fromEntries(["VERIFIED_TOKEN_CACHE", "PROFILE_CACHE"].flatMap((name) => (process.env[name] ? [[name, process.env[name]]] : []))),
    };
    const auth = await startAuthInstance({ procs, logsDir, env, compiled: true, nodeFlags }, 0, 0);
    const accessToken = await newBearer(auth.url);
    const dataFile = path.join(dir, "getme.json");
    const metadataFile = path.join(dir, "bearer.json");
    writeFileSync(dataFile, "{}");
    writeFileSync(metadataFile, JSON.stringify({ authorization: `Bearer ${accessToken}` }));
    const cpu = cpuPerCallSince(auth.pid, [dir, new URL(stack.redisUrl!).host], DATA_TIER_PROGRAMS);
    const result = await ghzGetMe({ target: `${auth.endpoint.host}:${auth.endpoint.port}`, dataFile, metadataFile, seconds: SECONDS, concurrency: 64, connections: 4 });
    const { serviceUs, tier } = cpu(result.rps * SECONDS);
    const load = loadavg()[0]!.toFixed(1);
    // The profile is written as the process exits.
    await procs.stopAll();
    console.log(`GetMe c=64 for ${SECONDS} s: ${result.rps.toFixed(0)} calls/s, p99 ${result.p99Ms.toFixed(1)} ms, ${result.failures} failures, ${serviceUs.toFixed(0)} µs of auth CPU per call (${tier}); load average ${load}`);
    printProfile(profileDir, REPO_ROOT);
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
