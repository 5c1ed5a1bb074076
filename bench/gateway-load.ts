import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { startAuthzInstance, type AuthzInstance } from "../src/stack/app-instances.js";
import { startGateway, type GatewayProxy, type RunningGateway } from "../src/stack/gateway.js";
import { ensurePrograms, whichProgram } from "../src/stack/install.js";
import { findFreePort } from "../src/stack/ports.js";
import { createProcessManager } from "../src/stack/processes.js";
import type { Endpoint } from "../src/stack/render-config.js";

export interface LoadDeps {
  dir: string;
  auth: Endpoint;
  example: Endpoint;
  /** The authz instances' whole config (REDIS_URL, AUTHZ_JWKS_URL, AUTH_ISSUER, ...). */
  authzEnv: Record<string, string>;
  bearer: string;
  seconds: number;
  rounds: number;
}

interface WrkResult {
  rps: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  errors: number;
}

const CONNECTIONS = [16, 64];
const WRK = [{ name: "wrk", debianPackage: "wrk", locate: () => whichProgram("wrk") }];

/** wrk's "99%  1.23ms" (or us, s) in ms. */
function latencyMs(text: string, percentile: string): number {
  const match = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s)\\s*$`, "m").exec(text);
  if (!match) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
}

async function wrk(binary: string, url: string, connections: number, seconds: number, bearer: string): Promise<WrkResult> {
  const { stdout } = await promisify(execFile)(
    binary,
    ["-t", "2", "-c", String(connections), "-d", `${seconds}s`, "--latency", "-H", `authorization: Bearer ${bearer}`, url],
    { encoding: "utf8", timeout: (seconds + 30) * 1000 },
  );
  const number = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? 0);
  return {
    rps: number(/^Requests\/sec:\s+([\d.]+)/m),
    p99Ms: latencyMs(stdout, "99"),
    requests: number(/^\s*(\d+) requests in/m),
    non2xx: number(/Non-2xx or 3xx responses:\s+(\d+)/),
    errors: [...stdout.matchAll(/(?:connect|read|write|timeout) (\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0),
  };
}

/**
 * The gateway under load with wrk, side by side in one run: Envoy + Check, Envoy without ext_authz
 * (same routes, upstream and authz instances), nginx + forward-auth; each at 16 and 64
 * connections, the gateways interleaved within every round so a noisy neighbour hits all alike.
 * Then the time from SIGKILL of one authz instance to the last failed request through Envoy.
 */
export async function gatewayLoad(deps: LoadDeps): Promise<string[]> {
  const binary = ensurePrograms(WRK).wrk!;
  const procs = createProcessManager(path.join(deps.dir, "run"));
  const logsDir = path.join(deps.dir, "logs");
  mkdirSync(logsDir, { recursive: true });
  mkdirSync(path.join(deps.dir, "run"), { recursive: true });
  const gateways: RunningGateway[] = [];
  try {
    const authz: AuthzInstance[] = [];
    for (let i = 0; i < 2; i++) authz.push(await startAuthzInstance({ procs, logsDir, env: deps.authzEnv }, i, { grpc: 0, http: 0 }));
    const start = async (label: string, proxy: GatewayProxy, withoutCheck = false) => {
      const gateway = await startGateway({
        dir: path.join(deps.dir, `gateway-${gateways.length}`),
        listen: { host: "127.0.0.1", port: await findFreePort() },
        auth: [deps.auth],
        authz: authz.map((a) => a.endpoints),
        example: deps.example,
        proxy,
        withoutCheck,
      });
      gateways.push(gateway);
      return { label, url: `${gateway.url}/example/hello` };
    };
    const sides = [await start("Envoy + Check", "envoy"), await start("Envoy, ext_authz off", "envoy", true), await start("nginx + forward-auth", "nginx")];
    const results = new Map<string, WrkResult[]>();
    for (let round = 0; round < deps.rounds; round++) {
      for (const connections of CONNECTIONS) {
        for (const side of sides) {
          await wrk(binary, side.url, connections, 1, deps.bearer); // warm-up
          const key = `${side.label}@${connections}`;
          results.set(key, [...(results.get(key) ?? []), await wrk(binary, side.url, connections, deps.seconds, deps.bearer)]);
        }
      }
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
    const rows = [
      `wrk, ${deps.rounds} rounds of ${deps.seconds} s per cell (median), GET /example/hello with a bearer, 2 authz instances, ${CONNECTIONS.join(" and ")} connections`,
      "| gateway | connections | req/s | p99 ms | non-2xx | socket errors | vs Envoy w/o Check: req/s, p99 +ms |",
      "| --- | --- | --- | --- | --- | --- | --- |",
    ];
    for (const connections of CONNECTIONS) {
      const base = results.get(`Envoy, ext_authz off@${connections}`) ?? [];
      for (const side of sides) {
        const runs = results.get(`${side.label}@${connections}`) ?? [];
        const rps = median(runs.map((r) => r.rps));
        const p99 = median(runs.map((r) => r.p99Ms));
        const baseRps = median(base.map((r) => r.rps));
        const baseP99 = median(base.map((r) => r.p99Ms));
        rows.push(
          `| ${side.label} | ${connections} | ${rps.toFixed(0)} | ${p99.toFixed(2)} | ${runs.reduce((s, r) => s + r.non2xx, 0)} | ${runs.reduce((s, r) => s + r.errors, 0)} | ${(rps / baseRps).toFixed(2)}x, ${(p99 - baseP99) >= 0 ? "+" : ""}${(p99 - baseP99).toFixed(2)} |`,
        );
      }
    }
    rows.push("", await killTiming(sides[0]!.url, deps.bearer, () => procs.kill("authz-0")));
    return rows;
  } finally {
    for (const gateway of gateways) await gateway.stop();
    await procs.stopAll();
  }
}

/** 8 clients loop through Envoy; one authz instance is SIGKILLed 1.5 s in; how long until the last failure. */
async function killTiming(url: string, bearer: string, kill: () => Promise<void>): Promise<string> {
  const failures: number[] = [];
  const reasons = new Map<string, number>();
  const fail = (at: number, why: string) => {
    failures.push(at);
    reasons.set(why, (reasons.get(why) ?? 0) + 1);
  };
  let sent = 0;
  const started = performance.now();
  const RUN_MS = 6000;
  const worker = async () => {
    while (performance.now() - started < RUN_MS) {
      const at = performance.now();
      sent++;
      try {
        const response = await fetch(url, { headers: { authorization: `Bearer ${bearer}` } });
        await response.arrayBuffer();
        if (response.status !== 200) fail(at, `${response.status} ${response.headers.get("x-auth-reason") ?? ""}`.trim());
      } catch (error) {
        fail(at, (error as Error).message);
      }
    }
  };
  const load = Promise.all(Array.from({ length: 8 }, worker));
  await sleep(1500);
  const killedAt = performance.now();
  await kill();
  await load;
  const after = failures.filter((at) => at >= killedAt);
  const last = after.length === 0 ? "no failed request" : `${after.length} failed, the last ${(Math.max(...after) - killedAt).toFixed(0)} ms after the kill`;
  const why = [...reasons].map(([reason, n]) => `${reason} x${n}`).join(", ");
  return `authz instance SIGKILLed under load through Envoy (8 clients, ${sent} requests in ${RUN_MS} ms): ${last}; ${failures.length - after.length} failed before it${why ? ` (${why})` : ""}`;
}
