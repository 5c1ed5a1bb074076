import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { inject } from "vitest";
import { createLogger } from "../../src/platform/log.js";
import { defaultProtoDirs } from "../../src/platform/proto-dirs.js";
import { startRateLimitServer, type RateLimitServer } from "../../src/ratelimit/app.js";
import { loadRateLimitConfig } from "../../src/ratelimit/config.js";
import { loadRateLimitProtos, type EnvoyRateLimitResponse } from "../../src/ratelimit/grpc-server.js";
import { withRedisOverrides } from "./redis-matrix.js";

export interface TestRateLimit {
  server: RateLimitServer;
  client: grpc.Client;
  /** Calls ShouldRateLimit as Envoy's rate limit filter would. */
  shouldRateLimit(request: unknown): Promise<EnvoyRateLimitResponse>;
  health(service?: string): Promise<string>;
  metrics(): Promise<string>;
  close(): Promise<void>;
}

type Root = grpc.GrpcObject & {
  envoy: { service: { ratelimit: { v3: { RateLimitService: grpc.ServiceClientConstructor } } } };
  grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
};

let root: Root | undefined;
/** Parsing the Envoy protos is slow and gives the same constructors every time: once per test file. */
export const rateLimitProtos = (): Root => (root ??= loadRateLimitProtos(defaultProtoDirs()) as Root);

/** A domain no other test (or earlier run) counts in, so budgets start full in the shared Redis. */
export const freshDomain = () => `test-${randomUUID().slice(0, 8)}`;

type Unary = (request: unknown, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, value: never) => void) => void;
export const unary = <T>(client: grpc.Client, method: string, request: unknown): Promise<T> =>
  new Promise((resolve, reject) =>
    (client as unknown as Record<string, Unary>)[method]!.call(client, request, { deadline: Date.now() + 5000 }, (error, value) => (error ? reject(error) : resolve(value))),
  );

/** A rate limit service on a free port, counting in the shared Redis unless overridden. */
export async function startTestRateLimit(overrides: Record<string, string>): Promise<TestRateLimit> {
  const config = loadRateLimitConfig(withRedisOverrides({
    REDIS_URL: inject("stack").redisUrl,
    RATE_LIMIT_PORT: "0",
    RATE_LIMIT_HTTP_PORT: "0",
    // These tests count budgets, not milliseconds: a busy shared machine must not turn a slow Redis answer into UNAVAILABLE.
    RATE_LIMIT_REDIS_TIMEOUT: "5s",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
  }, overrides));
  const server = await startRateLimitServer(config, { log: createLogger(config.logLevel, "ratelimit") });
  const protos = rateLimitProtos();
  const client = new protos.envoy.service.ratelimit.v3.RateLimitService(server.address, grpc.credentials.createInsecure());
  const health = new protos.grpc.health.v1.Health(server.address, grpc.credentials.createInsecure());
  return {
    server,
    client,
    shouldRateLimit: (request) => unary(client, "ShouldRateLimit", request),
    health: async (service = "") => (await unary<{ status: string }>(health, "Check", { service })).status,
    metrics: async () => (await fetch(`${server.httpUrl}/metrics`)).text(),
    async close() {
      client.close();
      health.close();
      await server.close();
    },
  };
}

/** The two descriptors envoy.yaml sends for a limited route. */
export const routeDescriptors = (route: string, ip: string) => [
  { entries: [{ key: "route", value: route }, { key: "remote_address", value: ip }] },
  { entries: [{ key: "route", value: route }] },
];
