import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { AuthService } from "../src/gen/auth/v1/auth_pb.js";
import { h2loadPost } from "./load-generators.js";
import { measureRow, type Measure, type Row } from "./table.js";

export interface SignInLoad {
  dir: string;
  /** The auth service's base URL (h2c). */
  authUrl: string;
  /** bench/ceilings/argon2-server.ts, verifying the same password against a hash of the same parameters. */
  argon2Url: string;
  email: string;
  password: string;
  length: { seconds: number } | { requests: number };
  rounds: number;
  clients: number;
}

/** SignIn with the right password under h2load against one argon2.verify per request behind a bare h2c server. */
export async function signInRow(load: SignInLoad): Promise<Row> {
  const body = path.join(load.dir, "signin.json");
  writeFileSync(body, JSON.stringify({ email: load.email, password: load.password }));
  const post = async (url: string): Promise<Measure> => {
    const result = await h2loadPost({ url, bodyFile: body, headers: { "content-type": "application/json" }, clients: load.clients, length: load.length, logFile: path.join(load.dir, "h2load.log") });
    return { value: result.rps, p99Ms: result.p99Ms, failures: result.failures };
  };
  return measureRow(
    { name: "SignIn (argon2id, right password)", ceiling: `raw argon2.verify, same parameters (c=${load.clients})`, unit: "req/s", target: ">= 0.92x" },
    load.rounds,
    () => post(`${load.authUrl}/auth.v1.AuthService/SignIn`),
    () => post(load.argon2Url),
  );
}

export interface EnumerationLoad {
  client: Client<typeof AuthService>;
  known: string;
  password: string;
  /** Accounts for wrong passwords, so none reaches the lockout's hard cap. */
  victims: string[];
  rounds: number;
  callsPerRound: number;
}

/** Median ms of calls made one at a time; every call must end as `expect` (a gRPC code name or "ok"). */
async function medianMs(calls: number, expect: string, call: () => Promise<unknown>): Promise<Measure> {
  const times: number[] = [];
  let failures = 0;
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    const outcome = await call().then(
      () => "ok",
      (error: unknown) => Code[ConnectError.from(error).code],
    );
    times.push(performance.now() - start);
    if (outcome !== expect) failures++;
  }
  times.sort((a, b) => a - b);
  return { value: times[Math.floor(times.length / 2)] ?? Number.NaN, failures };
}

/** Answers that must not tell an attacker whether an account exists: the ratio must stay near 1. */
export async function enumerationRows(load: EnumerationLoad): Promise<Row[]> {
  const { client, known, password } = load;
  let wrong = 0;
  const victim = () => load.victims[Math.floor(wrong++ / 90) % load.victims.length]!;
  const nobody = () => `nobody-${randomUUID()}@example.com`;
  const pair = (name: string, ceiling: string, a: [string, () => Promise<unknown>], b: [string, () => Promise<unknown>]) =>
    measureRow({ name, ceiling, unit: "ms", target: "near 1 (no enumeration by timing)" }, load.rounds, () => medianMs(load.callsPerRound, ...a), () => medianMs(load.callsPerRound, ...b));
  return [
    await pair("SignIn, wrong password (ms)", "SignIn, unknown email", ["Unauthenticated", () => client.signIn({ email: victim(), password: "wrong passphrase" })], ["Unauthenticated", () => client.signIn({ email: nobody(), password: "wrong passphrase" })]),
    await pair("SignUp, taken email (ms)", "SignUp, new email", ["ok", () => client.signUp({ email: known, password })], ["ok", () => client.signUp({ email: `new-${randomUUID()}@example.com`, password })]),
    await pair("RequestPasswordReset, known email (ms)", "RequestPasswordReset, unknown email", ["ok", () => client.requestPasswordReset({ email: known })], ["ok", () => client.requestPasswordReset({ email: nobody() })]),
  ];
}
