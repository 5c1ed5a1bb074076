import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import pg from "pg";
import { AuthService } from "../src/gen/auth/v1/auth_pb.js";
import { ensurePrograms, whichProgram } from "../src/stack/install.js";
import { findFreePort } from "../src/stack/ports.js";
import { queryOnce } from "../src/stack/readiness.js";
import { startStack, type RunningStack } from "../src/stack/stack.js";

/**
 * The fault campaign of issue 11, bounded: a real data tier on free ports, auth instances in this
 * process, one drill at a time. Each prints requests, errors by kind, the slowest request, and
 * what the drill is about (recovery time, lost writes, stale allows, other clients' p99).
 * Not part of `npm test`: timings on a shared machine are reported, never asserted.
 */
type Auth = Client<typeof AuthService>;
const PASSWORD = "correct horse battery staple";
const REPO = fileURLToPath(new URL("../", import.meta.url));

interface Tally {
  requests: number;
  errors: Map<string, number>;
  slowestMs: number;
}
const tally = (): Tally => ({ requests: 0, errors: new Map(), slowestMs: 0 });

/** Runs `call`, counting it in `t`; resolves with whether it succeeded. */
async function counted(t: Tally, call: () => Promise<unknown>): Promise<boolean> {
  const started = performance.now();
  t.requests += 1;
  try {
    await call();
    return true;
  } catch (error) {
    const e = ConnectError.from(error);
    const kind = `${Code[e.code]}: ${e.rawMessage.slice(0, 60)}`;
    t.errors.set(kind, (t.errors.get(kind) ?? 0) + 1);
    return false;
  } finally {
    t.slowestMs = Math.max(t.slowestMs, performance.now() - started);
  }
}

function print(name: string, t: Tally, extra: Record<string, string | number>): void {
  const errors = [...t.errors].map(([k, n]) => `${n}× ${k}`).join("; ") || "none";
  const more = Object.entries(extra).map(([k, v]) => `${k} ${v}`).join(", ");
  console.log(`\n## ${name}\nrequests ${t.requests}, errors ${errors}, slowest ${t.slowestMs.toFixed(0)} ms${more ? `, ${more}` : ""}`);
}

const p99 = (samples: number[]) => [...samples].sort((a, b) => a - b)[Math.min(samples.length - 1, Math.floor(samples.length * 0.99))] ?? 0;

interface AuthProcess {
  url: string;
  /** SIGTERM, as a deploy sends it; resolves with the exit code once the process is gone. */
  stop(): Promise<number | null>;
}

/** An auth service of its own process (as deployed), so attack traffic and the server do not share an event loop. */
async function startAuth(stack: RunningStack, key: string, env: Record<string, string> = {}): Promise<AuthProcess> {
  const port = await findFreePort();
  const child = spawn(process.execPath, ["--import", "tsx", "src/main-auth.ts"], {
    cwd: REPO,
    stdio: ["ignore", "ignore", "inherit"],
    env: {
      ...process.env,
      DATABASE_URL: stack.databaseUrl,
      DATABASE_PRIMARY_URL: stack.primaryUrl,
      ...(stack.replicaUrl ? { DATABASE_REPLICA_URL: stack.replicaUrl } : {}),
      REDIS_URL: stack.redisUrl,
      SIGNING_KEY_ENCRYPTION_KEY: key,
      AUTH_PORT: String(port),
      LOG_LEVEL: "silent",
      RATE_LIMIT_SIGNIN_IP: "1000000/1m",
      RATE_LIMIT_SIGNUP_IP: "1000000/1m",
      LOCKOUT_THRESHOLD: "1000",
      ...env,
    },
  });
  children.add(child);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => (children.delete(child), resolve(code))));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) break;
    if (i > 600 || child.exitCode !== null) throw new Error("auth process did not start");
    await sleep(50);
  }
  return {
    url,
    stop: () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

/** Every process this run started, killed by pid if the run ends early. */
const children = new Set<ChildProcess>();

const connectClient = (url: string): Auth => createClient(AuthService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

/** A refused or reset connection, or a refused stream: the request was never processed, so a gateway may send it elsewhere. */
const neverProcessed = (error: unknown) => /ECONNREFUSED|REFUSED_STREAM|ECONNRESET|EPIPE|socket hang up/i.test(String(ConnectError.from(error).cause ?? error));

/** Drill 1: one of two instances gets SIGTERM under a steady load of sign-ups, sign-ins and GetMe. */
async function restartDrill(stack: RunningStack, key: string): Promise<void> {
  const instances = [await startAuth(stack, key), await startAuth(stack, key)];
  const clients = instances.map((s) => connectClient(s.url));
  const grpc = instances.map((s) => createClient(AuthService, createGrpcTransport({ baseUrl: s.url })));
  const t = tally();
  const acknowledged: string[] = [];
  let stop = false;
  let turn = 0;
  let stoppedAt = 0;
  let closedAfterMs = 0;
  const down = new Set<number>();
  /** Round robin over the instances up; a call never processed goes to the next one, as a gateway retries a connect failure. */
  async function call<T>(run: (c: Auth) => Promise<T>, viaGrpc: boolean): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const i = [0, 1].filter((n) => !down.has(n))[turn++ % (2 - down.size)] ?? 1;
      try {
        return await run((viaGrpc ? grpc : clients)[i]!);
      } catch (error) {
        if (attempt > 2 || !neverProcessed(error)) throw error;
        if (stoppedAt > 0) down.add(0);
      }
    }
  }
  const worker = async (n: number) => {
    while (!stop) {
      const email = `drill-${randomUUID()}@example.com`;
      const viaGrpc = n % 2 === 0;
      if (await counted(t, () => call((c) => c.signUp({ email, password: PASSWORD }), viaGrpc))) acknowledged.push(email);
      let token = "";
      await counted(t, async () => (token = (await call((c) => c.signIn({ email, password: PASSWORD }), viaGrpc)).accessToken));
      if (token) await counted(t, () => call((c) => c.getMe({}, bearer(token)), viaGrpc));
    }
  };
  const workers = Array.from({ length: 8 }, (_, n) => worker(n));
  await sleep(3000);
  stoppedAt = performance.now();
  const code = await instances[0]!.stop();
  closedAfterMs = performance.now() - stoppedAt;
  down.add(0);
  await sleep(3000);
  stop = true;
  await Promise.all(workers);
  const rows = await queryOnce<{ n: string }>(stack.primaryUrl, "SELECT count(*) AS n FROM users WHERE email = ANY($1)", [acknowledged]);
  print("SIGTERM to one of two auth instances under load", t, {
    "drain and exit took": `${closedAfterMs.toFixed(0)} ms (exit code ${code})`,
    "acknowledged sign-ups": acknowledged.length,
    "lost writes": acknowledged.length - Number(rows[0]!.n),
  });
  await instances[1]!.stop();
}

interface Attack {
  /** Resolves once the attacker's connection is up. */
  connected: Promise<void>;
  /** Resolves with what the attacker reports when it is done. */
  done: Promise<Record<string, number>>;
  running(): boolean;
}

/** One process's outcome: `connected` once it is attacking, `done` with what it reports. */
function watched(child: ChildProcess, connectedMarker: string | undefined, parse: (output: string) => Record<string, number>): Attack {
  children.add(child);
  let output = "";
  let signalConnected = () => {};
  const connected = new Promise<void>((resolve) => (signalConnected = resolve));
  if (connectedMarker === undefined) signalConnected();
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
    if (connectedMarker !== undefined && output.includes(connectedMarker)) signalConnected();
  });
  const done = new Promise<Record<string, number>>((resolve, reject) =>
    child.once("exit", (code) => {
      children.delete(child);
      if (code === 0) resolve(parse(output));
      else reject(new Error(`attacker ${child.spawnargs.join(" ").slice(0, 80)} exited with ${code}`));
    }),
  );
  return { connected, done, running: () => child.exitCode === null };
}

/**
 * The flood, by h2load: one connection keeping SETTINGS_MAX_CONCURRENT_STREAMS of GetMe streams
 * open until 10,000 are answered, as a heavy client that obeys the protocol does.
 */
function flood(url: string, token: string, bodyFile: string): Attack {
  const h2load = ensurePrograms([{ name: "h2load", debianPackage: "nghttp2-client", locate: () => whichProgram("h2load") }]).h2load!;
  const args = ["-n", "10000", "-c", "1", "-m", "100", "-d", bodyFile, "-H", "content-type: application/json", "-H", `authorization: Bearer ${token}`];
  const child = spawn(h2load, [...args, `${url}/auth.v1.AuthService/GetMe`], { stdio: ["ignore", "pipe", "inherit"] });
  return watched(child, undefined, (output) => {
    const statuses = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(output);
    const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(output);
    return {
      done: Number(requests?.[3] ?? 0),
      errored: Number(requests?.[6] ?? 0),
      "2xx": Number(statuses?.[1] ?? 0),
      "5xx (shed)": Number(statuses?.[4] ?? 0),
    };
  });
}

/**
 * The rapid-reset attacker (drill/h2-attacker.ts) in a process of its own, from its own loopback
 * address: the server refuses a client over its reset budget for 10 s, which would otherwise leave
 * the next round's attacker refused before it starts.
 */
function rapidReset(mode: "reset-body" | "reset-headers", url: string, token: string, source: string): Attack & { stop(): void } {
  const child = spawn(process.execPath, ["--import", "tsx", "drill/h2-attacker.ts", mode, url, token, source], { cwd: REPO, stdio: ["ignore", "pipe", "inherit"] });
  const attack = watched(child, "connected", (output) => JSON.parse(output.trim().split("\n").at(-1) ?? "{}") as Record<string, number>);
  return { ...attack, stop: () => child.kill("SIGTERM") };
}

/** Drills 2 and 3: one h2c connection floods GetMe streams, then resets streams as fast as it can; another client's p99. */
async function http2Drills(stack: RunningStack, key: string): Promise<void> {
  const server = await startAuth(stack, key);
  const client = connectClient(server.url);
  const email = `drill-${randomUUID()}@example.com`;
  await client.signUp({ email, password: PASSWORD });
  const { accessToken } = await client.signIn({ email, password: PASSWORD });
  const sample = async (t: Tally, n: number) => {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      await counted(t, () => client.getMe({}, bearer(accessToken)));
      times.push(performance.now() - started);
    }
    return p99(times);
  };

  // The machine is shared: each attacked sample is set against an idle one taken just before it.
  const rounds = 3;
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const describe = (pairs: Array<{ idle: number; attacked: number }>) =>
    `${median(pairs.map((p) => p.attacked / p.idle)).toFixed(1)}x median of ${pairs.length} rounds (` +
    pairs.map((p) => `${p.attacked.toFixed(1)} vs ${p.idle.toFixed(1)} ms idle`).join("; ") +
    `), load ${loadavg()[0]!.toFixed(1)}`;

  const floodTally = tally();
  const floodRounds: Array<{ idle: number; attacked: number }> = [];
  const outcomes: Array<Record<string, number>> = [];
  let lasted = true;
  const bodyFile = path.join(mkdtempSync(path.join(tmpdir(), "auth-drill-flood-")), "getme.json");
  writeFileSync(bodyFile, "{}");
  for (let round = 0; round < rounds; round++) {
    const idle = await sample(tally(), 150);
    const floodAttack = flood(server.url, accessToken, bodyFile);
    await floodAttack.connected;
    const attacked = await sample(floodTally, 150);
    lasted &&= floodAttack.running();
    outcomes.push(await floodAttack.done);
    floodRounds.push({ idle, attacked });
  }
  rmSync(path.dirname(bodyFile), { recursive: true, force: true });
  print("h2c flood: 10,000 GetMe streams on one connection (h2load, 100 open at a time)", floodTally, {
    "other client's p99": describe(floodRounds),
    "the attacker saw": outcomes.map((o) => JSON.stringify(o)).join(" "),
    "flood still running when each sample ended": String(lasted),
  });

  let source = 10;
  for (const [mode, variant] of [["reset-body", "headers and a body byte"], ["reset-headers", "headers only"]] as const) {
    const resets = tally();
    const resetRounds: Array<{ idle: number; attacked: number }> = [];
    const outcomes: Array<Record<string, number>> = [];
    for (let round = 0; round < rounds; round++) {
      const idle = await sample(tally(), 150);
      const resetAttack = rapidReset(mode, server.url, accessToken, `127.0.0.${source++}`);
      await resetAttack.connected;
      const attacked = await sample(resets, 150);
      resetAttack.stop();
      outcomes.push(await resetAttack.done);
      resetRounds.push({ idle, attacked });
    }
    print(`h2c rapid reset (${variant}, then RST_STREAM; a new connection each time one is closed)`, resets, {
      "other client's p99": describe(resetRounds),
      "the attacker saw": outcomes.map((o) => JSON.stringify(o)).join(" "),
    });
  }
  await server.stop();
}

/** Drill 4: Redis stalls right after a password change commits; how long the other session is still allowed. */
async function revocationDrill(stack: RunningStack, key: string): Promise<void> {
  const server = await startAuth(stack, key, { REVOCATION_SWEEP_INTERVAL: "500ms" });
  const client = connectClient(server.url);
  const t = tally();
  const email = `drill-${randomUUID()}@example.com`;
  await client.signUp({ email, password: PASSWORD });
  const mine = await client.signIn({ email, password: PASSWORD });
  const other = await client.signIn({ email, password: PASSWORD });
  const me = await client.getMe({}, bearer(mine.accessToken));
  const lock = new pg.Client({ connectionString: stack.primaryUrl });
  const watch = new pg.Client({ connectionString: stack.primaryUrl });
  await Promise.all([lock.connect(), watch.connect()]);
  await lock.query("BEGIN");
  await lock.query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", [me.user!.id]);
  const change = counted(t, () => client.changePassword({ currentPassword: PASSWORD, newPassword: "another horse battery staple" }, bearer(mine.accessToken)));
  while ((await watch.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE users SET password_hash%'")).rowCount === 0) await sleep(20);
  const admin = new Redis(stack.redisUrl!);
  await admin.call("CLIENT", "PAUSE", "3000", "ALL");
  const pausedAt = performance.now();
  await lock.query("COMMIT");
  const acknowledged = await change;
  let staleAllows = 0;
  let endedAfterMs = Number.POSITIVE_INFINITY;
  while (performance.now() - pausedAt < 15_000) {
    const allowed = await counted(t, () => client.getMe({}, bearer(other.accessToken)));
    if (!allowed && performance.now() - pausedAt > 3000) {
      endedAfterMs = performance.now() - pausedAt;
      break;
    }
    if (allowed && acknowledged) staleAllows += 1;
    await sleep(50);
  }
  print("Redis paused 3 s between a ChangePassword commit and its revocation", t, {
    "change acknowledged": String(acknowledged),
    "other session ended": `${(endedAfterMs / 1000).toFixed(1)} s after the pause began (Redis back at 3 s)`,
    "stale allows after Redis answered": staleAllows,
  });
  admin.disconnect();
  await Promise.all([lock.end(), watch.end()]);
  await server.stop();
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "auth-drill-"));
  chmodSync(dir, 0o755);
  const stack = await startStack({ dir, replicas: 1 });
  const key = randomBytes(32).toString("base64");
  const drills = { restart: restartDrill, http2: http2Drills, revocation: revocationDrill };
  // `npm run drill -- http2` runs one drill; no argument runs all of them.
  const chosen = process.argv.slice(2);
  const unknown = chosen.filter((name) => !(name in drills));
  if (unknown.length > 0) throw new Error(`unknown drill ${unknown.join(", ")}: choose from ${Object.keys(drills).join(", ")}`);
  try {
    for (const [name, drill] of Object.entries(drills)) if (chosen.length === 0 || chosen.includes(name)) await drill(stack, key);
  } finally {
    for (const child of children) child.kill("SIGKILL");
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
