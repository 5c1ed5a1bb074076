import { randomBytes, randomUUID } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AuthService } from "../src/gen/auth/v1/auth_pb.js";
import { startAuthInstance } from "../src/stack/app-instances.js";
import { createProcessManager } from "../src/stack/processes.js";
import { startStack } from "../src/stack/stack.js";
import { ensureCompiled } from "./compiled.js";
import { selfTimes, type SelfTime } from "./cpu-profile.js";
import { ghzGetMe } from "./load-generators.js";
import { cpuMs, cpuMsOfStack } from "./proc-stats.js";

/**
 * `npm run bench:profile-getme`: where a GetMe's CPU goes. One compiled auth service under
 * `node --cpu-prof` (the bench's data tier: no replicas) takes GetMe with one bearer from ghz at
 * c=64 for BENCH_SECONDS (default 10), then stops; prints the calls per second and the functions
 * and packages with the most self time. The profile stays in PROFILE_DIR if that is set.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const TOP = 25;
// The data tier's programs, whose CPU per call is GetMe's too.
const DATA_TIER = ["redis-server", "pgbouncer", "postgres"];
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

const line = (row: SelfTime) => `| ${row.where} | ${row.ms.toFixed(0)} | ${(row.share * 100).toFixed(1)} % |`;

async function main(): Promise<void> {
  ensureCompiled(REPO_ROOT, (what) => console.error(what));
  const dir = mkdtempSync(path.join(tmpdir(), "auth-profile-"));
  chmodSync(dir, 0o755);
  const logsDir = path.join(dir, "logs");
  const profileDir = process.env.PROFILE_DIR ?? path.join(dir, "profile");
  for (const sub of [logsDir, profileDir, path.join(dir, "run")]) mkdirSync(sub, { recursive: true });
  const stack = await startStack({ dir, replicas: 0 });
  const procs = createProcessManager(path.join(dir, "run"));
  try {
    const env = {
      DATABASE_URL: stack.databaseUrl,
      DATABASE_PRIMARY_URL: stack.primaryUrl,
      REDIS_URL: stack.redisUrl!,
      SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      LOG_LEVEL: "silent",
      // The profile of another setting: VERIFIED_TOKEN_CACHE=off is GetMe as it was before the cache.
      ...(process.env.VERIFIED_TOKEN_CACHE ? { VERIFIED_TOKEN_CACHE: process.env.VERIFIED_TOKEN_CACHE } : {}),
    };
    const auth = await startAuthInstance({ procs, logsDir, env, compiled: true, nodeFlags: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] }, 0, 0);
    const client = createClient(AuthService, createConnectTransport({ baseUrl: auth.url, httpVersion: "1.1" }));
    const email = `profile-${randomUUID()}@example.com`;
    const password = "correct horse battery staple";
    await client.signUp({ email, password });
    const { accessToken } = await client.signIn({ email, password });
    const dataFile = path.join(dir, "getme.json");
    const metadataFile = path.join(dir, "bearer.json");
    writeFileSync(dataFile, "{}");
    writeFileSync(metadataFile, JSON.stringify({ authorization: `Bearer ${accessToken}` }));
    const cpuBefore = cpuMs(auth.pid);
    const stackMarkers = [dir, new URL(stack.redisUrl!).host];
    const tierBefore = cpuMsOfStack(stackMarkers);
    const result = await ghzGetMe({ target: `${auth.endpoint.host}:${auth.endpoint.port}`, dataFile, metadataFile, seconds: SECONDS, concurrency: 64, connections: 4 });
    const calls = result.rps * SECONDS;
    const cpuPerCallMs = (cpuMs(auth.pid) - cpuBefore) / calls;
    const tier = [...cpuMsOfStack(stackMarkers)].filter(([command]) => DATA_TIER.includes(command)).map(([command, ms]) => `${command} ${(((ms - (tierBefore.get(command) ?? 0)) / calls) * 1000).toFixed(0)} µs`).join(", ");
    const load = loadavg()[0]!.toFixed(1);
    // The profile is written as the process exits.
    await procs.stopAll();
    const profile = readdirSync(profileDir).find((name) => name.endsWith(".cpuprofile"));
    if (!profile) throw new Error(`no .cpuprofile in ${profileDir}`);
    const { busyMs, top, origins } = selfTimes(path.join(profileDir, profile), REPO_ROOT);
    console.log(`GetMe c=64 for ${SECONDS} s: ${result.rps.toFixed(0)} calls/s, p99 ${result.p99Ms.toFixed(1)} ms, ${result.failures} failures, ${(cpuPerCallMs * 1000).toFixed(0)} µs of auth CPU per call (${tier}); load average ${load}; ${(busyMs / 1000).toFixed(1)} s of samples`);
    console.log("");
    console.log("| origin | self ms | share |\n| --- | --- | --- |");
    for (const row of origins.slice(0, 12)) console.log(line(row));
    console.log("");
    console.log("| function | self ms | share |\n| --- | --- | --- |");
    for (const row of top.slice(0, TOP)) console.log(line(row));
  } finally {
    await procs.stopAll();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
