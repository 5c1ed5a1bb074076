import { writeFileSync } from "node:fs";
import path from "node:path";
import { ghzGetMe } from "./load-generators.js";
import { measureRounds, pairRow, type Measure, type Row } from "./table.js";

export interface GetMeLoad {
  dir: string;
  /** The auth service's h2c port, host:port, with its verified-token and profile caches on (the defaults). */
  auth: string;
  /** Another instance with VERIFIED_TOKEN_CACHE=off and PROFILE_CACHE=off: every call verifies the signature and reads the database, as before the caches. */
  authUncached: string;
  /** bench/ceilings/getme-server.ts. */
  bare: string;
  /** An access token of a live session. */
  bearer: string;
  seconds: number;
  rounds: number;
  concurrency: number;
  connections: number;
}

/**
 * GetMe (authenticate the bearer, read the live session, read the caller's profile) against connect-node
 * answering a fixed account, with the verified-token and profile caches on and off. All three run in
 * the same rounds, so the caches' gain is a ratio of one run too.
 */
export async function getMeRows(load: GetMeLoad): Promise<Row[]> {
  const dataFile = path.join(load.dir, "getme.json");
  writeFileSync(dataFile, "{}");
  const metadataFile = path.join(load.dir, "getme-bearer.json");
  writeFileSync(metadataFile, JSON.stringify({ authorization: `Bearer ${load.bearer}` }));
  const ghz = (target: string) => async (): Promise<Measure> => {
    const result = await ghzGetMe({ target, dataFile, metadataFile, seconds: load.seconds, concurrency: load.concurrency, connections: load.connections });
    return { value: result.rps, p99Ms: result.p99Ms, failures: result.failures };
  };
  const measured = await measureRounds(load.rounds, { cached: ghz(load.auth), uncached: ghz(load.authUncached), bare: ghz(load.bare) });
  const c = `c=${load.concurrency}`;
  const bare = `bare connect-node, fixed GetMe (${c})`;
  return [
    pairRow({ name: "GetMe, token and profile caches on", ceiling: bare, unit: "req/s", target: "-" }, measured, "cached", "bare"),
    pairRow({ name: "GetMe, token and profile caches off", ceiling: bare, unit: "req/s", target: "-" }, measured, "uncached", "bare"),
    pairRow({ name: "GetMe, caches on vs off", ceiling: `GetMe, token and profile caches off (${c})`, unit: "req/s", target: ">= 3x" }, measured, "cached", "uncached"),
  ];
}
