import * as grpc from "@grpc/grpc-js";
import { inject } from "vitest";
import { defaultProtoDirs, startAuthzServer, type AuthzServer } from "../../src/authz/app.js";
import { loadAuthzConfig } from "../../src/authz/config.js";
import { loadAuthzProtos } from "../../src/authz/grpc-server.js";
import type { EnvoyCheckResponse } from "../../src/authz/envoy-check.js";
import { createLogger } from "../../src/platform/log.js";
import type { TestAuth } from "./auth.js";
import { withRedisOverrides } from "./redis-matrix.js";

export interface TestAuthz {
  server: AuthzServer;
  /** Calls envoy.service.auth.v3.Authorization/Check as Envoy would, with `metadata` as its initial_metadata. */
  check(http: CheckHttp, metadata?: grpc.Metadata): Promise<EnvoyCheckResponse>;
  /** Calls the forward-auth endpoint as nginx auth_request would. */
  forward(target: string, headers?: Record<string, string>, query?: string): Promise<Response>;
  metrics(): Promise<string>;
  close(): Promise<void>;
}

export interface CheckHttp {
  method?: string;
  path?: string;
  host?: string;
  headers?: Record<string, string>;
}

type EnvoyRoot = grpc.GrpcObject & { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } };

let authorizationClient: grpc.ServiceClientConstructor | undefined;
/** Parsing the Envoy protos is slow and gives the same constructor every time: once per test file. */
const authorizationClientConstructor = (): grpc.ServiceClientConstructor =>
  (authorizationClient ??= (loadAuthzProtos(defaultProtoDirs()).envoy as EnvoyRoot).service.auth.v3.Authorization);

/** An authz server on free ports, verifying tokens against `auth`'s JWKS and reading the shared Redis unless overridden. */
export async function startTestAuthz(auth: TestAuth, overrides: Record<string, string> = {}): Promise<TestAuthz> {
  const config = loadAuthzConfig(withRedisOverrides({
    REDIS_URL: inject("stack").redisUrl,
    AUTHZ_PORT: "0",
    AUTHZ_HTTP_PORT: "0",
    AUTHZ_JWKS_URL: `${auth.server.url}/.well-known/jwks.json`,
    AUTH_ISSUER: auth.config.shared.issuer,
    AUTH_AUDIENCE: auth.config.shared.audience,
    SIGNIN_URL: "http://gateway.test/signin",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
  }, overrides));
  const server = await startAuthzServer(config, { log: createLogger(config.logLevel) });
  const Authorization = authorizationClientConstructor();
  const client = new Authorization(server.grpcAddress, grpc.credentials.createInsecure());
  return {
    server,
    check: (http, metadata) => rawCheck(client, { attributes: { request: { http: { method: "GET", path: "/example/", host: "gateway.test", ...http } } } }, metadata),
    forward: (target, headers = {}, query = "") =>
      fetch(`${server.httpUrl}/auth/forward${query}`, { headers: { "x-original-uri": target, "x-original-method": "GET", ...headers }, redirect: "manual" }),
    metrics: async () => (await fetch(`${server.httpUrl}/metrics`)).text(),
    async close() {
      client.close();
      await server.close();
    },
  };
}

export function rawCheck(client: grpc.Client, request: unknown, metadata = new grpc.Metadata()): Promise<EnvoyCheckResponse> {
  return new Promise((resolve, reject) =>
    (
      client as unknown as {
        Check: (r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: EnvoyCheckResponse) => void) => void;
      }
    ).Check(
      request,
      metadata,
      { deadline: Date.now() + 5000 },
      (error, response) => (error ? reject(error) : resolve(response)),
    ),
  );
}

/** The header a CheckResponse sets (ok) or sends (denied), by name. */
export function headerOf(response: EnvoyCheckResponse, name: string): string | undefined {
  const headers = response.ok_response?.headers ?? response.denied_response?.headers ?? [];
  return headers.find((h) => h.header.key === name)?.header.value;
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}
