import { writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { loadAuthzProtos } from "../src/authz/grpc-server.js";
import type { EnvoyCheckRequest } from "../src/authz/envoy-check.js";
import { defaultProtoDirs } from "../src/platform/proto-dirs.js";
import { ghzCheck } from "./load-generators.js";
import { measureRow, type Measure, type Row } from "./table.js";

export interface CheckTargets {
  /** An authz instance with its default caches. */
  authz: string;
  /** An authz instance whose caches keep nothing (AUTHZ_CACHE_TTL=1ms): every cookie Check reads Redis. */
  authzUncached: string;
  /** bench/ceilings/check-server.ts. */
  bare: string;
}

export interface CheckCredentials {
  bearer: string;
  cookie: string;
  /** Fresh access tokens of the same live session, never seen by the authz instance, one batch per round. */
  mintTokens(count: number): Promise<string[]>;
}

export interface CheckLoad {
  dir: string;
  seconds: number;
  rounds: number;
  concurrency: number;
  connections: number;
}

export const checkRequest = (headers: Record<string, string>): EnvoyCheckRequest => ({
  attributes: { request: { http: { method: "GET", path: "/example/hello", host: "bench.local", headers } } },
});

type CheckResponse = { status: { code: number; message: string } };

/** A grpc-js client of one authz (or ceiling) Check port, for the bench's own single calls. */
export function createCheckClient(target: string): { check(request: EnvoyCheckRequest): Promise<CheckResponse>; close(): void } {
  const root = loadAuthzProtos(defaultProtoDirs()) as unknown as { envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } } };
  const client = new root.envoy.service.auth.v3.Authorization(target, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Check(request: EnvoyCheckRequest, callback: (error: Error | null, response: CheckResponse) => void): void;
  };
  return { check: promisify(client.Check.bind(client)), close: () => client.close() };
}

/** The verdicts the load cannot see (allow and deny both answer gRPC OK): each request must allow before it is timed. */
async function expectAllow(target: string, requests: EnvoyCheckRequest[]): Promise<void> {
  const client = createCheckClient(target);
  try {
    for (const request of requests) {
      const response = await client.check(request);
      if (response.status.code !== 0) throw new Error(`Check at ${target} denied a bench request: ${response.status.message}`);
    }
  } finally {
    client.close();
  }
}

/** Check rows, each against the bare grpc-js server in the same rounds: the Check's cost is the ratio. */
export async function checkRows(targets: CheckTargets, credentials: CheckCredentials, load: CheckLoad): Promise<Row[]> {
  const file = (name: string, data: EnvoyCheckRequest | EnvoyCheckRequest[]) => {
    const target = path.join(load.dir, `${name}.json`);
    writeFileSync(target, JSON.stringify(data));
    return target;
  };
  const bearer = checkRequest({ authorization: `Bearer ${credentials.bearer}` });
  const cookie = checkRequest({ cookie: `auth_session=${credentials.cookie}` });
  await expectAllow(targets.authz, [bearer, cookie]);
  await expectAllow(targets.authzUncached, [cookie]);
  const bearerFile = file("bearer", bearer);
  const cookieFile = file("cookie", cookie);
  const ghz = async (target: string, dataFile: string): Promise<Measure> => {
    const result = await ghzCheck({ target, dataFile, seconds: load.seconds, concurrency: load.concurrency, connections: load.connections });
    return { value: result.rps, p99Ms: result.p99Ms, failures: result.failures };
  };
  const bare = () => ghz(targets.bare, bearerFile);
  const ceiling = `bare grpc-js, fixed CheckResponse (c=${load.concurrency})`;
  const cached = await measureRow({ name: "Check, Bearer cached", ceiling, unit: "req/s", target: "near 1" }, load.rounds, () => ghz(targets.authz, bearerFile), bare);
  // No Check is faster than a cached one: a fifth more tokens than the cached rate could use leaves none to repeat in a round.
  const perRound = Math.ceil(Math.max(...cached.rounds.map((round) => round.contender.value)) * load.seconds * 1.2) + 100;
  const uncachedBearer = async (round: number): Promise<Measure> => {
    const tokens = await credentials.mintTokens(perRound);
    await expectAllow(targets.authz, [checkRequest({ authorization: `Bearer ${tokens[0]}` })]);
    return ghz(targets.authz, file(`tokens-${round}`, tokens.map((token) => checkRequest({ authorization: `Bearer ${token}` }))));
  };
  return [
    cached,
    await measureRow({ name: "Check, Bearer uncached (distinct tokens)", ceiling, unit: "req/s", target: ">= 0.6x" }, load.rounds, uncachedBearer, bare),
    await measureRow({ name: "Check, cookie cached", ceiling, unit: "req/s", target: "near 1" }, load.rounds, () => ghz(targets.authz, cookieFile), bare),
    await measureRow(
      { name: "Check, cookie uncached (Redis read each Check)", ceiling, unit: "req/s", target: ">= 0.85x the cookie-cached ratio" },
      load.rounds,
      () => ghz(targets.authzUncached, cookieFile),
      bare,
    ),
  ];
}
