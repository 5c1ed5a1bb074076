import { randomBytes, randomUUID } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { startAuthServer } from "../src/auth/app.js";
import { loadAuthConfig } from "../src/auth/config.js";
import { defaultProtoDirs, startAuthzServer } from "../src/authz/app.js";
import { loadAuthzConfig } from "../src/authz/config.js";
import { loadAuthzProtos } from "../src/authz/grpc-server.js";
import { AuthService } from "../src/gen/auth/v1/auth_pb.js";
import { createLogger } from "../src/platform/log.js";
import { createTracing, type Tracing } from "../src/platform/tracing.js";
import { startStack } from "../src/stack/stack.js";

/**
 * What tracing costs (`npm run bench:tracing`): SignIn latency and Check throughput of a service
 * with tracing off and one with every request traced (sample ratio 1, spans exported over OTLP/HTTP
 * to a receiver here that answers 200), side by side on one data tier, rounds interleaved so a
 * shared machine's noise falls on both alike. The ratio is the result, not the absolute numbers.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SIGNINS = Number(process.env.BENCH_SIGNINS ?? 20);
const CHECK_SECONDS = Number(process.env.BENCH_CHECK_SECONDS ?? 3);
const CONCURRENCY = 16;

type Check = (metadata: grpc.Metadata) => Promise<void>;

async function checksPerSecond(check: Check): Promise<number> {
  const until = performance.now() + CHECK_SECONDS * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        const metadata = new grpc.Metadata();
        // As Envoy sends it, to both sides: a sampled parent span of its own.
        metadata.set("traceparent", `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`);
        await check(metadata);
        done++;
      }
    }),
  );
  return done / CHECK_SECONDS;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "auth-bench-tracing-"));
  chmodSync(dir, 0o755);
  let exported = 0;
  const sink = createServer((req, res) => {
    req.on("data", (chunk: Buffer) => (exported += chunk.length));
    req.on("end", () => res.writeHead(200, { "content-type": "application/x-protobuf" }).end());
  });
  await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
  const tracesUrl = `http://127.0.0.1:${(sink.address() as { port: number }).port}/v1/traces`;
  const stack = await startStack({ dir, replicas: 0 });
  const tracings: Tracing[] = [];
  const closers: Array<() => Promise<unknown>> = [];
  try {
    const env = {
      DATABASE_URL: stack.databaseUrl,
      DATABASE_PRIMARY_URL: stack.primaryUrl,
      REDIS_URL: stack.redisUrl,
      SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      AUTH_PORT: "0",
      LOG_LEVEL: "silent",
      RATE_LIMIT_SIGNIN_IP: "1000000/1m",
      RATE_LIMIT_SIGNUP_IP: "1000000/1m",
    };
    const Authorization = (loadAuthzProtos(defaultProtoDirs()) as unknown as { envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } } }).envoy.service.auth.v3.Authorization;
    const sides = [];
    for (const traced of [false, true]) {
      const tracing = await createTracing(traced ? { tracesUrl, serviceName: "bench", sampleRatio: 1 } : undefined);
      tracings.push(tracing);
      const config = loadAuthConfig(env);
      const auth = await startAuthServer(config, { log: createLogger("silent"), tracing });
      closers.push(() => auth.close());
      const authz = await startAuthzServer(
        loadAuthzConfig({ REDIS_URL: stack.redisUrl, AUTHZ_PORT: "0", AUTHZ_HTTP_PORT: "0", AUTHZ_JWKS_URL: `${auth.url}/.well-known/jwks.json`, AUTH_ISSUER: config.shared.issuer, LOG_LEVEL: "silent" }),
        { log: createLogger("silent", "authz"), tracing },
      );
      closers.push(() => authz.close());
      const client = createClient(AuthService, createConnectTransport({ baseUrl: auth.url, httpVersion: "1.1" }));
      const email = `bench-${randomUUID()}@example.com`;
      const password = "correct horse battery staple";
      await client.signUp({ email, password });
      const { accessToken } = await client.signIn({ email, password });
      const grpcClient = new Authorization(authz.grpcAddress, grpc.credentials.createInsecure());
      closers.push(async () => grpcClient.close());
      const request = { attributes: { request: { http: { method: "GET", path: "/example/", host: "bench", headers: { authorization: `Bearer ${accessToken}`, "x-request-id": "bench" } } } } };
      const check: Check = (metadata) =>
        new Promise((resolve, reject) => (grpcClient as unknown as { Check: (r: unknown, m: grpc.Metadata, cb: (e: Error | null) => void) => void }).Check(request, metadata, (error) => (error ? reject(error) : resolve())));
      const signIn = async () => {
        const start = performance.now();
        await client.signIn({ email, password }, { headers: traced ? { traceparent: `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01` } : {} });
        return performance.now() - start;
      };
      sides.push({ name: traced ? "traced" : "off", traced, check, signIn, signInMs: [] as number[], checks: [] as number[] });
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
        for (let i = 0; i < SIGNINS; i++) side.signInMs.push(await side.signIn());
        side.checks.push(await checksPerSecond(side.check));
      }
    }
    for (const side of sides) {
      process.stdout.write(`${side.name.padEnd(7)} SignIn p50 ${median(side.signInMs).toFixed(1)} ms   Check ${median(side.checks).toFixed(0)}/s (median of ${ROUNDS} rounds of ${CHECK_SECONDS} s, ${CONCURRENCY} in flight)\n`);
    }
    const [off, on] = sides;
    process.stdout.write(`tracing on: Check throughput ${((median(on!.checks) / median(off!.checks) - 1) * 100).toFixed(1)} %, SignIn p50 ${((median(on!.signInMs) / median(off!.signInMs) - 1) * 100).toFixed(1)} %; ${(exported / 1024).toFixed(0)} KiB of OTLP exported\n`);
  } finally {
    for (const close of closers.reverse()) await close().catch(() => {});
    for (const tracing of tracings) await tracing.shutdown();
    sink.close();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
