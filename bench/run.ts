import { randomBytes, randomUUID } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import argon2 from "argon2";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { loadAuthConfig } from "../src/auth/config.js";
import { startExampleUpstream } from "../src/example/upstream.js";
import { AuthService } from "../src/gen/auth/v1/auth_pb.js";
import { startAuthInstance, startAuthzInstance } from "../src/stack/app-instances.js";
import { defaultProtoDirs } from "../src/platform/proto-dirs.js";
import { canConnect, findFreePort } from "../src/stack/ports.js";
import { createProcessManager, type ProcessManager } from "../src/stack/processes.js";
import { waitUntil } from "../src/stack/readiness.js";
import { endpointOf } from "../src/stack/render-config.js";
import { startStack } from "../src/stack/stack.js";
import { browserSignIn } from "../test/support/browser.js";
import { checkRows } from "./check-rows.js";
import { ensureCompiled } from "./compiled.js";
import { gatewayRows } from "./gateway-load.js";
import { getMeRows } from "./getme-rows.js";
import { enumerationRows, signInRow } from "./password-rows.js";
import { busyCoresSince, peakRssDuring, rssMiB } from "./proc-stats.js";
import { revocationRow } from "./revocation-row.js";
import { ratios, renderRow, TABLE_HEADER, type Row, type RowSpec } from "./table.js";
import { createTokenMinter } from "./token-minter.js";

/**
 * `npm run bench`: every figure the README quotes, in one table. Each row loads a contender and
 * its ceiling with an independent generator (ghz, h2load, wrk) in alternating rounds on this
 * machine; the ratio per round is what to read, absolute numbers move with the machine.
 * `--quick` (CI) runs one short round per row and fails only if a row has no number.
 */
const quick = process.argv.includes("--quick");
const ROUNDS = quick ? 1 : Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = quick ? 1 : Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = 64;
const ENUMERATION_CALLS = quick ? 2 : 8;
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
const began = performance.now();
// Progress goes to stderr, so stdout is the table alone.
const progress = (what: string) => console.error(`[bench +${((performance.now() - began) / 1000).toFixed(1)} s] ${what}`);

async function startCeiling(procs: ProcessManager, logsDir: string, name: string, entry: string, env: Record<string, string>): Promise<{ port: number; pid: number }> {
  const port = await findFreePort();
  const logFile = path.join(logsDir, `${name}.log`);
  const pid = procs.start({ name, command: process.execPath, args: [entry], cwd: REPO_ROOT, logFile, env: { ...env, CEILING_PORT: String(port) }, stopSignal: "SIGTERM" });
  await waitUntil(() => canConnect(port), { what: name, timeoutMs: 60_000, logFile, intervalMs: 100 });
  return { port, pid };
}

function rssRow(spec: RowSpec, contender: number, ceiling: number, busyCores: number): Row {
  return { ...spec, rounds: [{ contender: { value: contender }, ceiling: { value: ceiling } }], busyCores };
}

async function main(): Promise<void> {
  const compiled = ensureCompiled(REPO_ROOT, progress);
  const dir = mkdtempSync(path.join(tmpdir(), "auth-bench-"));
  // As root the data tier and the gateway run as an unprivileged user that must reach their state here.
  chmodSync(dir, 0o755);
  const logsDir = path.join(dir, "logs");
  mkdirSync(logsDir, { recursive: true });
  mkdirSync(path.join(dir, "run"), { recursive: true });
  const stack = await startStack({ dir, replicas: 0 });
  progress("data tier up");
  const procs = createProcessManager(path.join(dir, "run"));
  try {
    // startStack's default, one Redis node; `npm run bench:redis` compares it with a cluster.
    const redisUrl = stack.redisUrl!;
    const authEnv = {
      DATABASE_URL: stack.databaseUrl,
      DATABASE_PRIMARY_URL: stack.primaryUrl,
      REDIS_URL: redisUrl,
      SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      LOG_LEVEL: "silent",
      // The bench times the work of each answer; limits and lockout would time their refusals instead.
      RATE_LIMIT_SIGNIN_IP: "1000000/1m",
      RATE_LIMIT_SIGNUP_IP: "1000000/1m",
      RATE_LIMIT_MAIL_IP: "1000000/1m",
      RATE_LIMIT_MAIL_ACCOUNT: "1000000/1m",
      RATE_LIMIT_MAIL_RESET: "1000000/1m",
      LOCKOUT_THRESHOLD: "1000",
    };
    const config = loadAuthConfig({ ...authEnv, AUTH_PORT: "0" });
    const password = "correct horse battery staple";
    const authUrl = `http://127.0.0.1:${await findFreePort()}`;
    // authz waits for the auth service's issuer metadata, so everything starts at once.
    const authzEnv = { REDIS_URL: redisUrl, AUTHZ_JWKS_URL: `${authUrl}/.well-known/jwks.json`, AUTH_ISSUER: config.shared.issuer, AUTHZ_ISSUER_WAIT: "60s", LOG_LEVEL: "silent" };
    const protoDirs = defaultProtoDirs();
    const [auth, authUncached, authz, authzUncached, bareCheck, bareArgon2, bareGetMe] = await Promise.all([
      startAuthInstance({ procs, logsDir, env: authEnv, compiled: true }, 0, Number(new URL(authUrl).port)),
      startAuthInstance({ procs, logsDir, env: { ...authEnv, VERIFIED_TOKEN_CACHE: "off", PROFILE_CACHE: "off" }, compiled: true }, 1, 0),
      startAuthzInstance({ procs, logsDir, env: authzEnv, compiled: true }, 0, { grpc: 0, http: 0 }),
      startAuthzInstance({ procs, logsDir, env: { ...authzEnv, AUTHZ_CACHE_TTL: "1ms" }, compiled: true }, 1, { grpc: 0, http: 0 }),
      startCeiling(procs, logsDir, "bare-check", compiled.ceiling("check-server"), { CEILING_ENVOY_API: protoDirs.envoyApi, CEILING_PROTO_DIR: protoDirs.project }),
      argon2
        .hash(password, { type: argon2.argon2id, memoryCost: config.argon2.memoryKiB, timeCost: config.argon2.iterations, parallelism: config.argon2.parallelism })
        .then((hash) => startCeiling(procs, logsDir, "bare-argon2", compiled.ceiling("argon2-server"), { CEILING_HASH: hash, CEILING_PASSWORD: password })),
      startCeiling(procs, logsDir, "bare-getme", compiled.ceiling("getme-server"), {}),
    ]);
    const example = await startExampleUpstream("127.0.0.1", 0);
    progress("services and ceilings up");
    const client = createClient(AuthService, createConnectTransport({ baseUrl: auth.url, httpVersion: "1.1" }));
    const known = `known-${randomUUID()}@example.com`;
    await client.signUp({ email: known, password });
    const { accessToken } = await client.signIn({ email: known, password });
    const cookie = await browserSignIn(auth.url, known, password);
    // Wrong passwords spread over accounts that each stay under LOCKOUT_HARD_CAP (100 in a row).
    const wrongPasswordCalls = ROUNDS * ENUMERATION_CALLS;
    const victims = await Promise.all(
      Array.from({ length: Math.ceil(wrongPasswordCalls / 90) }, async () => {
        const email = `victim-${randomUUID()}@example.com`;
        await client.signUp({ email, password });
        return email;
      }),
    );

    const minter = await createTokenMinter(stack.primaryUrl, config, accessToken);
    const mintTokens = minter.mint;

    const target = (endpoint: { host: string; port: number }) => `${endpoint.host}:${endpoint.port}`;
    const idle = { authz: rssMiB(authz.pid), bareCheck: rssMiB(bareCheck.pid), auth: rssMiB(auth.pid), bareArgon2: rssMiB(bareArgon2.pid) };

    const rows: Row[] = [];
    const checkWindow = busyCoresSince();
    const checkPeak = await peakRssDuring([authz.pid, bareCheck.pid], async () => {
      rows.push(
        ...(await checkRows(
          { authz: target(authz.endpoints.grpc), authzUncached: target(authzUncached.endpoints.grpc), bare: `127.0.0.1:${bareCheck.port}` },
          { bearer: accessToken, cookie, mintTokens },
          { dir, seconds: SECONDS, rounds: ROUNDS, concurrency: CONCURRENCY, connections: 4 },
        )),
      );
    });
    const checkCores = checkWindow();
    progress("Check rows done");
    const signInWindow = busyCoresSince();
    const signInPeak = await peakRssDuring([auth.pid, bareArgon2.pid], async () => {
      rows.push(await signInRow({ dir, authUrl: auth.url, argon2Url: `http://127.0.0.1:${bareArgon2.port}/`, email: known, password, length: quick ? { requests: 16 } : { seconds: SECONDS }, rounds: ROUNDS, clients: 8 }));
    });
    const signInCores = signInWindow();
    rows.push(...(await enumerationRows({ client, known, password, victims, rounds: ROUNDS, callsPerRound: ENUMERATION_CALLS })));
    progress("password rows done");
    rows.push(
      ...(await getMeRows({ dir, auth: target(auth.endpoint), authUncached: target(authUncached.endpoint), bare: `127.0.0.1:${bareGetMe.port}`, bearer: accessToken, seconds: SECONDS, rounds: ROUNDS, concurrency: CONCURRENCY, connections: 4 })),
    );
    progress("GetMe rows done");
    rows.push(await revocationRow({ client, authz: target(authz.endpoints.grpc), redisUrl: redisUrl, email: known, password, rounds: ROUNDS, samplesPerRound: quick ? 1 : 4 }));
    progress("revocation row done");
    const gateways = await gatewayRows({ dir, auth: endpointOf(auth.url), authz: [authz.endpoints], authzPids: [authz.pid], example: endpointOf(example.url), bearer: accessToken, seconds: SECONDS, rounds: ROUNDS, connections: CONCURRENCY });
    rows.push(...gateways.rows);
    const bareCheckName = "bare grpc-js Check server";
    rows.push(
      rssRow({ name: "RSS idle: authz (MiB)", ceiling: bareCheckName, unit: "MiB", target: "-" }, idle.authz, idle.bareCheck, Number.NaN),
      rssRow({ name: "RSS under Check load: authz (MiB)", ceiling: bareCheckName, unit: "MiB", target: "<= 1.3x" }, checkPeak.get(authz.pid)!, checkPeak.get(bareCheck.pid)!, checkCores),
      rssRow({ name: "RSS idle: auth (MiB)", ceiling: "bare argon2 server", unit: "MiB", target: "-" }, idle.auth, idle.bareArgon2, Number.NaN),
      rssRow({ name: "RSS under SignIn load: auth (MiB)", ceiling: "bare argon2 server", unit: "MiB", target: "-" }, signInPeak.get(auth.pid)!, signInPeak.get(bareArgon2.pid)!, signInCores),
    );
    await minter.close();
    await example.close();

    const cpu = cpus()[0]?.model ?? "unknown CPU";
    console.log(`${new Date().toISOString()}, ${availableParallelism()} cores (${cpu}), node ${process.version}, load average at the end ${loadavg()[0]!.toFixed(1)}`);
    console.log(`${quick ? "--quick: " : ""}${ROUNDS} round(s) of ${SECONDS} s per side; gRPC Check with ghz (c=${CONCURRENCY}, 4 connections), SignIn with h2load, gateways with wrk; services and ceilings compiled, under plain node as in production`);
    console.log("");
    for (const line of TABLE_HEADER) console.log(line);
    for (const row of rows) console.log(renderRow(row));
    console.log("");
    console.log("Where a gateway request's CPU goes (µs per answered request, median over the runs; the upstream runs in the bench's process):");
    for (const { path, perRequestUs } of gateways.cpu) {
      const programs = Object.entries(perRequestUs).sort(([a], [b]) => a.localeCompare(b));
      const total = programs.reduce((sum, [, us]) => sum + us, 0);
      console.log(`- ${path}: ${programs.map(([program, us]) => `${program} ${us.toFixed(0)}`).join(", ")}; total ${total.toFixed(0)}`);
    }
    const missing = rows.filter((row) => ratios(row).some((ratio) => !Number.isFinite(ratio)));
    if (missing.length > 0) {
      console.error(`rows without a number: ${missing.map((row) => row.name).join(", ")}`);
      process.exitCode = 1;
    }
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
