import path from "node:path";
import type { AuthzEndpoints } from "../src/stack/gateway-config.js";
import { startGateway, type GatewayProxy, type RunningGateway } from "../src/stack/gateway.js";
import { findFreePort } from "../src/stack/ports.js";
import type { Endpoint } from "../src/stack/render-config.js";
import { wrkGet } from "./load-generators.js";
import { measureRow, type Measure, type Row } from "./table.js";

export interface GatewayLoad {
  dir: string;
  auth: Endpoint;
  authz: AuthzEndpoints[];
  example: Endpoint;
  bearer: string;
  seconds: number;
  rounds: number;
  connections: number;
}

/**
 * GET /example/hello with a bearer through each gateway under wrk, against the path without what
 * the row prices: Envoy + Check against the same Envoy (routes, upstream) without ext_authz; each
 * gateway against the upstream straight.
 */
export async function gatewayRows(load: GatewayLoad): Promise<Row[]> {
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
      });
      gateways.push(gateway);
      return `${gateway.url}/example/hello`;
    };
    const envoy = await start("envoy");
    const envoyBare = await start("envoy", true);
    const nginx = await start("nginx");
    const direct = `http://${load.example.host}:${load.example.port}/example/hello`;
    const wrk = (url: string) => async (): Promise<Measure> => {
      const result = await wrkGet(url, load.connections, load.seconds, { authorization: `Bearer ${load.bearer}` });
      return { value: result.rps, p99Ms: result.p99Ms, failures: result.failures };
    };
    const c = `c=${load.connections}`;
    return [
      await measureRow({ name: "gateway: Envoy + Check", ceiling: `Envoy without ext_authz (${c})`, unit: "req/s", target: ">= 0.7x" }, load.rounds, wrk(envoy), wrk(envoyBare)),
      await measureRow({ name: "gateway: Envoy + Check", ceiling: `upstream direct (${c})`, unit: "req/s", target: "-" }, load.rounds, wrk(envoy), wrk(direct)),
      await measureRow({ name: "gateway: nginx + forward-auth", ceiling: `upstream direct (${c})`, unit: "req/s", target: ">= 0.6x" }, load.rounds, wrk(nginx), wrk(direct)),
    ];
  } finally {
    for (const gateway of gateways) await gateway.stop();
  }
}
