import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startAuthInstance } from "../src/stack/app-instances.js";
import { canConnect, findFreePort } from "../src/stack/ports.js";
import { waitUntil } from "../src/stack/readiness.js";
import { ensureCompiled } from "./compiled.js";
import { getMeRows } from "./getme-rows.js";
import { newBearer, withGetMeStack } from "./getme-stack.js";
import { renderRow, TABLE_HEADER } from "./table.js";

/**
 * `npm run bench:getme`: the GetMe rows of `npm run bench` alone (BENCH_ROUNDS, default 5, of
 * BENCH_SECONDS, default 5), for measuring a change to GetMe's path without the whole table.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

async function main(): Promise<void> {
  const compiled = ensureCompiled(REPO_ROOT, (what) => console.error(what));
  await withGetMeStack("auth-bench-getme-", async ({ dir, logsDir, procs, env }) => {
    const barePort = await findFreePort();
    const [auth, authUncached] = await Promise.all([
      startAuthInstance({ procs, logsDir, env, compiled: true }, 0, 0),
      startAuthInstance({ procs, logsDir, env: { ...env, VERIFIED_TOKEN_CACHE: "off", PROFILE_CACHE: "off" }, compiled: true }, 1, 0),
    ]);
    const bareLog = path.join(logsDir, "bare-getme.log");
    procs.start({ name: "bare-getme", command: process.execPath, args: [compiled.ceiling("getme-server")], cwd: REPO_ROOT, logFile: bareLog, env: { CEILING_PORT: String(barePort) }, stopSignal: "SIGTERM" });
    await waitUntil(() => canConnect(barePort), { what: "bare-getme", timeoutMs: 60_000, logFile: bareLog, intervalMs: 100 });
    const bearer = await newBearer(auth.url);
    const target = (endpoint: { host: string; port: number }) => `${endpoint.host}:${endpoint.port}`;
    const rows = await getMeRows({ dir, auth: target(auth.endpoint), authUncached: target(authUncached.endpoint), bare: `127.0.0.1:${barePort}`, bearer, seconds: SECONDS, rounds: ROUNDS, concurrency: 64, connections: 4 });
    console.log(`${ROUNDS} round(s) of ${SECONDS} s per side, ghz c=64 on 4 connections; load average at the end ${loadavg()[0]!.toFixed(1)}`);
    for (const line of TABLE_HEADER) console.log(line);
    for (const row of rows) console.log(renderRow(row));
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
