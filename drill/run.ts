import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import pg from "pg";
import { AuthService } from "../src/gen/auth/v1/auth_pb.js";
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
  const request = (session: http2.ClientHttp2Session) =>
    session.request({ ":method": "POST", ":path": "/auth.v1.AuthService/GetMe", "content-type": "application/json", authorization: `Bearer ${accessToken}` });

  const idle = await sample(tally(), 200);
  const flood = tally();
  const session = http2.connect(server.url);
  session.on("error", () => {});
  let shed = 0;
  const streams = Array.from({ length: 10_000 }, () => {
    const stream = request(session);
    stream.on("error", () => {});
    stream.end("{}");
    stream.resume();
    return new Promise<void>((resolve) => {
      stream.on("response", (h) => void (h[":status"] === 503 && (shed += 1)));
      stream.on("close", () => resolve());
    });
  });
  const attacked = await sample(flood, 200);
  session.destroy();
  await Promise.all(streams);
  print("h2c flood: 10,000 GetMe streams on one connection", flood, {
    "other client's p99": `${attacked.toFixed(1)} ms (idle ${idle.toFixed(1)} ms, ${(attacked / idle).toFixed(1)}x)`,
    "flood streams shed": shed,
  });

  for (const variant of ["headers and a body byte", "headers only"] as const) {
    const resets = tally();
    const attacker = http2.connect(server.url);
    attacker.on("error", () => {});
    let sent = 0;
    let closed = false;
    attacker.once("close", () => (closed = true));
    const run = (async () => {
      while (!closed && sent < 20_000) {
        try {
          const stream = request(attacker);
          stream.on("error", () => {});
          if (variant === "headers and a body byte") stream.write("{");
          stream.close(http2.constants.NGHTTP2_CANCEL);
          sent += 1;
        } catch {
          break;
        }
        if (sent % 20 === 0) await sleep(1);
      }
    })();
    const during = await sample(resets, 200);
    await run;
    print(`h2c rapid reset (${variant}, then RST_STREAM)`, resets, {
      "other client's p99": `${during.toFixed(1)} ms (idle ${idle.toFixed(1)} ms)`,
      "resets sent before the connection was closed": sent,
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
  try {
    await restartDrill(stack, key);
    await http2Drills(stack, key);
    await revocationDrill(stack, key);
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
