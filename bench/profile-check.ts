import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadAuthConfig } from "../src/auth/config.js";
import type { EnvoyCheckRequest } from "../src/authz/envoy-check.js";
import { startAuthInstance, startAuthzInstance } from "../src/stack/app-instances.js";
import { findFreePort } from "../src/stack/ports.js";
import { browserSignIn } from "../test/support/browser.js";
import { checkRequest } from "./check-rows.js";
import { ensureCompiled } from "./compiled.js";
import { cpuProfiling, printProfile } from "./cpu-profile.js";
import { newAccount, withGetMeStack } from "./getme-stack.js";
import { ghzCheck } from "./load-generators.js";
import { cpuPerCallSince, rssMiB } from "./proc-stats.js";
import { createTokenMinter } from "./token-minter.js";

/**
 * `npm run bench:profile-check`: where a Check's CPU goes, for the Check rows of `npm run bench`.
 * One compiled authz instance under `node --cpu-prof` takes ghz's Checks (c=64, 4 connections) for
 * BENCH_SECONDS (default 10) of one kind, PROFILE_CHECK:
 *   tokens  (default) a distinct Bearer token each Check: every one verifies an Ed25519 signature;
 *   bearer  one Bearer token, cached after the first Check;
 *   cookie  one session cookie at an instance whose caches keep nothing (AUTHZ_CACHE_TTL=1ms): Redis reads each Check.
 * Prints Checks per second, the CPU each cost authz and Redis, authz's peak RSS, and the busiest
 * functions and packages.
 * The profile stays in PROFILE_DIR if that is set.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const KIND = process.env.PROFILE_CHECK ?? "tokens";
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
// Checks a second no kind reaches here, with room: every token of the run is distinct.
const TOKENS_PER_SECOND = 9000;

async function main(): Promise<void> {
  if (!["tokens", "bearer", "cookie"].includes(KIND)) throw new Error(`PROFILE_CHECK must be tokens, bearer or cookie, not ${KIND}`);
  ensureCompiled(REPO_ROOT, (what) => console.error(what));
  await withGetMeStack("auth-profile-check-", async ({ dir, logsDir, procs, stack, env }) => {
    const { profileDir, nodeFlags } = cpuProfiling(dir);
    const authPort = await findFreePort();
    const config = loadAuthConfig({ ...env, AUTH_PORT: String(authPort) });
    const authzEnv = {
      REDIS_URL: stack.redisUrl!,
      AUTHZ_JWKS_URL: `http://127.0.0.1:${authPort}/.well-known/jwks.json`,
      AUTH_ISSUER: config.shared.issuer,
      AUTHZ_ISSUER_WAIT: "60s",
      LOG_LEVEL: "silent",
      ...(KIND === "cookie" ? { AUTHZ_CACHE_TTL: "1ms" } : {}),
    };
    const [auth, authz] = await Promise.all([
      startAuthInstance({ procs, logsDir, env, compiled: true }, 0, authPort),
      startAuthzInstance({ procs, logsDir, env: authzEnv, compiled: true, nodeFlags }, 0, { grpc: 0, http: 0 }),
    ]);
    const { email, password, accessToken } = await newAccount(auth.url);
    let requests: EnvoyCheckRequest | EnvoyCheckRequest[];
    if (KIND === "tokens") {
      const minter = await createTokenMinter(stack.primaryUrl, config, accessToken);
      const tokens = await minter.mint(TOKENS_PER_SECOND * SECONDS);
      await minter.close();
      requests = tokens.map((token) => checkRequest({ authorization: `Bearer ${token}` }));
    } else if (KIND === "bearer") {
      requests = checkRequest({ authorization: `Bearer ${accessToken}` });
    } else {
      requests = checkRequest({ cookie: `auth_session=${await browserSignIn(auth.url, email, password)}` });
    }
    const dataFile = path.join(dir, "checks.json");
    writeFileSync(dataFile, JSON.stringify(requests));
    const cpu = cpuPerCallSince(authz.pid, [dir, new URL(stack.redisUrl!).host], ["redis-server"]);
    const result = await ghzCheck({ target: `${authz.endpoints.grpc.host}:${authz.endpoints.grpc.port}`, dataFile, seconds: SECONDS, concurrency: 64, connections: 4 });
    const { serviceUs, tier } = cpu(result.rps * SECONDS);
    const peakRss = rssMiB(authz.pid, "VmHWM");
    const load = loadavg()[0]!.toFixed(1);
    // The profile is written as the process exits.
    await procs.stopAll();
    console.log(`Check (${KIND}) c=64 for ${SECONDS} s: ${result.rps.toFixed(0)} Checks/s, p99 ${result.p99Ms.toFixed(1)} ms, ${result.failures} failures, ${serviceUs.toFixed(0)} µs of authz CPU per Check (${tier}), authz peak RSS ${peakRss.toFixed(0)} MiB; load average ${load}`);
    printProfile(profileDir, REPO_ROOT);
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
