import path from "node:path";
import type { AuthzEndpoints } from "../src/stack/gateway-config.js";
import { startGateway, type GatewayProxy, type RunningGateway } from "../src/stack/gateway.js";
import { findFreePort } from "../src/stack/ports.js";
import type { Endpoint } from "../src/stack/render-config.js";
import { wrkGet } from "./load-generators.js";
import { cpuMs, cpuMsOfStack, pidOf } from "./proc-stats.js";
import { measureRow, type Measure, type Row } from "./table.js";

export interface GatewayLoad {
  dir: string;
  auth: Endpoint;
  authz: AuthzEndpoints[];
  /** The authz processes behind `authz`, whose CPU a gateway request costs. */
  authzPids: number[];
  /** The example upstream runs in the bench's own process. */
  example: Endpoint;
  bearer: string;
  seconds: number;
  rounds: number;
  connections: number;
}

/** What one path's request cost each program, in CPU µs per answered request: the median over its runs. */
export type CpuBreakdown = Array<{ path: string; perRequestUs: Record<string, number> }>;

const cpuMsOrZero = (pid: number) => {
  try {
    return cpuMs(pid);
  } catch {
    return 0;
  }
};

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/**
 * GET /example/hello with a bearer through each gateway under wrk, against the path without what
 * the row prices: Envoy + Check against the same Envoy (routes, upstream) without ext_authz; each
 * gateway against the upstream straight. Every run also counts the CPU each program spent (wrk, the
 * gateway, authz, the upstream), so a ratio below its target says where the time went.
 */
export async function gatewayRows(load: GatewayLoad): Promise<{ rows: Row[]; cpu: CpuBreakdown }> {
  const samples = new Map<string, Map<string, number[]>>();
  const gateways: RunningGateway[] = [];
  try {
    const start = async (proxy: GatewayProxy, withoutCheck = false) => {
      const gateway = await startGateway({
        dir: path.join(load.dir, `gateway-${gateways.length}`),
        listen: { host: "127.0.0.1", port: await findFreePort() },
        auth: [load.auth],
        authz: load.authz,
        example: load.example,
        proxy,
        withoutCheck,
        // The per-instance flood guard (10,000 req/s) would answer 429 past it: a cap on the ceiling, not its cost.
        floodGuard: "off",
      });
      gateways.push(gateway);
      return { url: `${gateway.url}/example/hello`, dir: path.join(load.dir, `gateway-${gateways.length - 1}`), proxy, withCheck: !withoutCheck };
    };
    const envoy = await start("envoy");
    const envoyBare = await start("envoy", true);
    const nginx = await start("nginx");
    const direct = { url: `http://${load.example.host}:${load.example.port}/example/hello`, dir: undefined, proxy: undefined, withCheck: false };
    type Path = typeof direct | typeof envoy;
    const label = (p: Path) => (p.proxy === undefined ? "upstream direct" : p.proxy === "envoy" ? (p.withCheck ? "Envoy + Check" : "Envoy without ext_authz") : "nginx + forward-auth");
    const wrk = (p: Path) => async (): Promise<Measure> => {
      // The gateway is found by its state directory (nginx's workers are its children).
      const programs = () => {
        const usage = process.cpuUsage();
        const cpu = new Map<string, number>([["upstream", (usage.user + usage.system) / 1000]]);
        if (p.dir) for (const [command, ms] of cpuMsOfStack([p.dir])) cpu.set(command, (cpu.get(command) ?? 0) + ms);
        if (p.withCheck) cpu.set("authz", load.authzPids.reduce((sum, pid) => sum + cpuMs(pid), 0));
        return cpu;
      };
      const before = programs();
      const running = wrkGet(p.url, load.connections, load.seconds, { authorization: `Bearer ${load.bearer}` });
      // wrk's CPU is read while it runs (a process gone has none to read): the last sample, up to 100 ms before its end.
      let wrkPid: number | undefined;
      let wrkMs = 0;
      const sampler = setInterval(() => {
        wrkPid ??= pidOf("wrk", p.url);
        if (wrkPid !== undefined) wrkMs = Math.max(wrkMs, cpuMsOrZero(wrkPid));
      }, 100);
      const result = await running.finally(() => clearInterval(sampler));
      const after = programs();
      after.set("wrk", wrkMs);
      const answered = result.rps * load.seconds;
      const perPath = samples.get(label(p)) ?? new Map<string, number[]>();
      samples.set(label(p), perPath);
      for (const [program, ms] of after) {
        const spent = ms - (program === "wrk" ? 0 : (before.get(program) ?? 0));
        if (answered > 0) perPath.set(program, [...(perPath.get(program) ?? []), (spent * 1000) / answered]);
      }
      return { value: result.rps, p99Ms: result.p99Ms, failures: result.failures };
    };
    const c = `c=${load.connections}`;
    const rows = [
      await measureRow({ name: "gateway: Envoy + Check", ceiling: `Envoy without ext_authz (${c})`, unit: "req/s", target: ">= 0.7x" }, load.rounds, wrk(envoy), wrk(envoyBare)),
      await measureRow({ name: "gateway: Envoy + Check", ceiling: `upstream direct (${c})`, unit: "req/s", target: "-" }, load.rounds, wrk(envoy), wrk(direct)),
      await measureRow({ name: "gateway: nginx + forward-auth", ceiling: `upstream direct (${c})`, unit: "req/s", target: ">= 0.6x" }, load.rounds, wrk(nginx), wrk(direct)),
    ];
    const cpu: CpuBreakdown = [...samples].map(([name, programs]) => ({
      path: name,
      perRequestUs: Object.fromEntries([...programs].map(([program, values]) => [program, median(values)])),
    }));
    return { rows, cpu };
  } finally {
    for (const gateway of gateways) await gateway.stop();
  }
}
