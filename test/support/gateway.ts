import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { startExampleUpstream } from "../../src/example/upstream.js";
import { AuthService } from "../../src/gen/auth/v1/auth_pb.js";
import { startGateway, type GatewayProxy, type RunningGateway } from "../../src/stack/gateway.js";
import { type AuthClient, type TestAuth, connectTransport, startTestAuth, testEnv, userIdOf } from "./auth.js";
import { type TestAuthz, startTestAuthz } from "./authz.js";
import { findFreePort } from "../../src/stack/ports.js";
import { startAuthInstance, startAuthzInstance, type AuthInstance, type AuthzInstance } from "../../src/stack/app-instances.js";
import { createProcessManager, type ProcessManager } from "../../src/stack/processes.js";
import { endpointOf } from "../../src/stack/render-config.js";

/**
 * Envoy's Check and rate-limit timeout in tests: the deployment's 0.25 s measures a Check on an idle
 * machine; a shared 2-core one running the suite can stall a Check longer than that, which would
 * read as a denial the test is not about. No test here asserts how long a Check takes.
 */
export const PATIENT_CALLOUT_MS = 2000;

export interface TestGateway {
  url: string;
  port: number;
  gateway: RunningGateway;
  authz: TestAuthz[];
  /** Connect JSON through the gateway, as a browser app or curl would call it. */
  client: AuthClient;
  close(): Promise<void>;
}

export interface TestTopology {
  auth: TestAuth;
  example: Awaited<ReturnType<typeof startExampleUpstream>>;
  /**
   * A gateway (Envoy unless nginx is asked for) over its own authz instances. `at` picks its port (one the
   * auth service's PUBLIC_BASE_URL already names) and the host name its URL uses (`localhost`: WebAuthn
   * refuses an IP address as the relying party).
   */
  addGateway(instances: number, authzEnv?: Record<string, string>, proxy?: GatewayProxy, at?: { port?: number; host?: string }): Promise<TestGateway>;
  close(): Promise<void>;
}

/** The auth service (on the shared data stack unless REDIS_URL etc. are overridden) and the example upstream. */
export async function startTopology(authEnv: Record<string, string> = {}): Promise<TestTopology> {
  const dir = mkdtempSync(path.join(tmpdir(), "e2e-gw-"));
  // As root the gateway runs as the stack's unprivileged user, which must reach its config through here.
  chmodSync(dir, 0o755);
  // As npm start does: the gateway on loopback is the proxy whose X-Forwarded-For is believed.
  const auth = await startTestAuth({ TRUSTED_PROXIES: "127.0.0.1", ...authEnv });
  const example = await startExampleUpstream("127.0.0.1", 0);
  const gateways: TestGateway[] = [];
  let started = 0;
  return {
    auth,
    example,
    async addGateway(instances, authzEnv = {}, proxy = "envoy", at = {}) {
      // Taken before the first await: gateways started in parallel each get their own state dir.
      const stateDir = path.join(dir, `gw-${started++}`);
      const port = at.port ?? (await findFreePort());
      const url = `http://${at.host ?? "127.0.0.1"}:${port}`;
      const authz: TestAuthz[] = [];
      try {
        for (let i = 0; i < instances; i++) authz.push(await startTestAuthz(auth, { SIGNIN_URL: `${url}/signin`, ...authzEnv }));
        const gateway = await startGateway({
          dir: stateDir,
          listen: { host: "127.0.0.1", port },
          auth: [endpointOf(auth.server.url)],
          authz: authz.map((a) => a.server.endpoints),
          example: endpointOf(example.url),
          proxy,
          calloutTimeoutMs: PATIENT_CALLOUT_MS,
        });
        const running: TestGateway = {
          url,
          port,
          gateway,
          authz,
          client: createClient(AuthService, connectTransport(url)),
          async close() {
            await gateway.stop();
            for (const a of authz) await a.close();
          },
        };
        gateways.push(running);
        return running;
      } catch (error) {
        for (const a of authz) await a.close();
        throw error;
      }
    },
    async close() {
      for (const g of gateways) await g.close();
      await example.close();
      await auth.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Sends bytes as they are (fetch refuses to send most malformed requests) and reads one answer. The
 * socket is not half-closed: nginx takes that for a client gone (499, no answer). The answer ends at
 * its Content-Length or the server's close, whichever comes first (nginx lingers before closing).
 */
export function rawHttp(port: number, request: string | Buffer): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    const chunks: Buffer[] = [];
    const parse = () => {
      const text = Buffer.concat(chunks).toString("latin1");
      const split = text.indexOf("\r\n\r\n");
      const head = split < 0 ? text : text.slice(0, split);
      const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
      const body = split < 0 ? "" : text.slice(split + 4);
      return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head, body, complete: split >= 0 && length !== undefined && body.length >= Number(length) };
    };
    const finish = () => {
      const { complete: _, ...answer } = parse();
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(5000, () => socket.destroy(new Error("no answer within 5 s")));
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      if (parse().complete) finish();
    });
    socket.on("error", reject);
    socket.on("close", finish);
    socket.write(request);
  });
}

/** Counts of Checks this instance answered over one transport (Envoy: grpc, nginx: http), from its own /metrics. */
export async function gatewayChecks(authz: TestAuthz, transport: "grpc" | "http"): Promise<number> {
  const metrics = await authz.metrics();
  return [...metrics.matchAll(new RegExp(`^authz_checks_total\\{transport="${transport}",[^}]*\\} (\\d+)$`, "gm"))].reduce((sum, m) => sum + Number(m[1]), 0);
}

/** An HTTP/1.1 request as raw text; Connection: close so the server ends it after answering. */
export const http1 = (requestLine: string, headers: string[] = ["Host: gw"], body = "") => `${requestLine}\r\n${[...headers, "Connection: close"].map((h) => `${h}\r\n`).join("")}\r\n${body}`;

export { userIdOf };

/**
 * Quantiles of authz_check_duration_seconds for one transport, in ms, as the upper bound of the
 * bucket they fall in (what Prometheus' histogram_quantile would interpolate within).
 */
export function bucketQuantile(metrics: string, transport: string, quantiles: number[]): string[] {
  const buckets = [...metrics.matchAll(new RegExp(`^authz_check_duration_seconds_bucket\\{le="([^"]+)",transport="${transport}"\\} (\\d+)$`, "gm"))].map(
    (m) => ({ le: m[1] ?? "", count: Number(m[2]) }),
  );
  const total = buckets.at(-1)?.count ?? 0;
  return quantiles.map((q) => {
    const hit = buckets.find((b) => b.count >= q * total);
    return hit === undefined || hit.le === "+Inf" ? "+Inf" : String(Number(hit.le) * 1000);
  });
}

export interface InstanceTopology {
  gateway: RunningGateway;
  url: string;
  auth: AuthInstance[];
  authz: AuthzInstance[];
  /** Starts and SIGKILLs the instances by name (auth-0, authz-1, ...). */
  procs: ProcessManager;
  close(): Promise<void>;
}

/**
 * As `npm start` runs it: auth and authz instances each their own OS process (so one can be killed
 * like a crash), the example upstream, and Envoy in front, on the shared data stack. All share
 * one issuer. Logs at info (authz at debug, so allowed Checks are logged too) in <dir>/logs.
 */
export async function startInstanceTopology(counts: { auth: number; authz: number }, options: { tracesEndpoint?: string; redis?: Record<string, string> } = {}): Promise<InstanceTopology> {
  const dir = mkdtempSync(path.join(tmpdir(), "e2e-inst-"));
  chmodSync(dir, 0o755);
  const logsDir = path.join(dir, "logs");
  mkdirSync(logsDir, { recursive: true });
  const procs = createProcessManager(path.join(dir, "run"));
  mkdirSync(path.join(dir, "run"), { recursive: true });
  const port = await findFreePort();
  const url = `http://127.0.0.1:${port}`;
  const issuer = url;
  const example = await startExampleUpstream("127.0.0.1", 0);
  try {
    // Tracing as a deployment turns it on: the one variable, read by each service and given to Envoy.
    const tracing: Record<string, string> = options.tracesEndpoint ? { OTEL_EXPORTER_OTLP_ENDPOINT: options.tracesEndpoint } : {};
    const redis = options.redis ?? {};
    const authEnv = testEnv({ ...redis, TRUSTED_PROXIES: "127.0.0.1", AUTH_ISSUER: issuer, PUBLIC_BASE_URL: url, LOG_LEVEL: "info", ...tracing });
    const auth: AuthInstance[] = [];
    for (let i = 0; i < counts.auth; i++) auth.push(await startAuthInstance({ procs, logsDir, env: authEnv }, i, 0));
    const authzEnv = {
      ...(authEnv.REDIS_CLUSTER_NODES ? { REDIS_CLUSTER_NODES: authEnv.REDIS_CLUSTER_NODES } : { REDIS_URL: authEnv.REDIS_URL ?? "" }),
      AUTHZ_JWKS_URL: `${auth[0]!.url}/.well-known/jwks.json`,
      AUTH_ISSUER: issuer,
      SIGNIN_URL: `${url}/signin`,
      LOG_LEVEL: "debug",
      ...tracing,
    };
    const authz = await Promise.all(Array.from({ length: counts.authz }, (_, i) => startAuthzInstance({ procs, logsDir, env: authzEnv }, i, { grpc: 0, http: 0 })));
    const gateway = await startGateway({
      dir,
      listen: { host: "127.0.0.1", port },
      auth: auth.map((a) => a.endpoint),
      authz: authz.map((a) => a.endpoints),
      example: endpointOf(example.url),
      calloutTimeoutMs: PATIENT_CALLOUT_MS,
      proxy: "envoy",
      ...(options.tracesEndpoint ? { tracesUrl: `${options.tracesEndpoint}/v1/traces` } : {}),
    });
    return {
      gateway,
      url,
      auth,
      authz,
      procs,
      async close() {
        await gateway.stop();
        await procs.stopAll();
        await example.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await procs.stopAll();
    await example.close();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
