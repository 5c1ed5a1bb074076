import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { ListenerLimits } from "../platform/listener-limits.js";
import type { Logger } from "../platform/log.js";
import type { Authorizer } from "./authorizer.js";
import { fromEnvoyRequest, InvalidCheckRequest, toEnvoyResponse, type EnvoyCheckRequest, type EnvoyCheckResponse } from "./envoy-check.js";

export interface ProtoDirs {
  /** The vendored Envoy data-plane-api closure of external_auth.proto (envoy/api). */
  envoyApi: string;
  /** The project's protos, for grpc/health/v1/health.proto. */
  project: string;
}

export interface GrpcServerDeps {
  authorizer: Authorizer;
  /** Whether this instance can give useful answers; drives grpc.health.v1 so Envoy steers away when not. */
  serving(): Promise<boolean>;
  protoDirs: ProtoDirs;
  log: Logger;
}

export interface GrpcServer {
  port: number;
  /** Health answers NOT_SERVING, new calls are refused (GOAWAY), calls in flight finish within the grace; then the rest are cut. */
  close(): Promise<void>;
}

const AUTHORIZATION_SERVICE = "envoy.service.auth.v3.Authorization";
// Envoy's default request header limit is 60 KiB; a Check far beyond it was not sent by Envoy.
const MAX_CHECK_REQUEST_BYTES = 1024 * 1024;

export function loadAuthzProtos(dirs: ProtoDirs): grpc.GrpcObject {
  const definition = protoLoader.loadSync(["envoy/service/auth/v3/external_auth.proto", "grpc/health/v1/health.proto"], {
    includeDirs: [dirs.envoyApi, dirs.project],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition);
}

function serviceOf(root: grpc.GrpcObject, name: string): grpc.ServiceDefinition {
  const found = name.split(".").reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], root);
  if (typeof found !== "function" || !("service" in found)) throw new Error(`${name} missing from the loaded protos`);
  return (found as grpc.ServiceClientConstructor).service;
}

export async function startGrpcServer(deps: GrpcServerDeps, host: string, port: number, limits: ListenerLimits): Promise<GrpcServer> {
  const root = loadAuthzProtos(deps.protoDirs);
  const server = new grpc.Server({
    "grpc.max_receive_message_length": MAX_CHECK_REQUEST_BYTES,
    "grpc.max_concurrent_streams": limits.maxConcurrentStreams,
    "grpc.max_connection_idle_ms": limits.idleTimeoutMs,
  });
  const known = new Set(["", AUTHORIZATION_SERVICE]);
  let draining = false;
  const status = async () => (!draining && (await deps.serving().catch(() => false)) ? "SERVING" : "NOT_SERVING");

  server.addService(serviceOf(root, AUTHORIZATION_SERVICE), {
    Check(call: grpc.ServerUnaryCall<EnvoyCheckRequest, EnvoyCheckResponse>, callback: grpc.sendUnaryData<EnvoyCheckResponse>) {
      let input;
      try {
        input = fromEnvoyRequest(call.request);
      } catch (error) {
        if (!(error instanceof InvalidCheckRequest)) throw error;
        callback({ code: grpc.status.INVALID_ARGUMENT, details: error.message });
        return;
      }
      deps.authorizer.authorize(input, "grpc", true).then(
        ({ verdict }) => callback(null, toEnvoyResponse(verdict)),
        // The cause is logged by the authorizer and never sent; Envoy's failure_mode_allow decides what happens next.
        () => callback({ code: grpc.status.INTERNAL, details: "internal error" }),
      );
    },
  });

  server.addService(serviceOf(root, "grpc.health.v1.Health"), {
    Check(call: grpc.ServerUnaryCall<{ service?: string }, { status: string }>, callback: grpc.sendUnaryData<{ status: string }>) {
      const service = call.request.service ?? "";
      if (!known.has(service)) {
        callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${service.slice(0, 200)}` });
        return;
      }
      void status().then((s) => callback(null, { status: s }));
    },
    Watch(call: grpc.ServerWritableStream<{ service?: string }, { status: string }>) {
      const service = call.request.service ?? "";
      let last: string | undefined;
      const poll = async () => {
        const current = known.has(service) ? await status() : "SERVICE_UNKNOWN";
        if (current !== last && !call.cancelled) call.write({ status: current });
        last = current;
      };
      const timer = setInterval(() => void poll(), 1000);
      call.on("cancelled", () => clearInterval(timer));
      call.on("close", () => clearInterval(timer));
      void poll();
    },
  });

  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, actual) => (error ? reject(error) : resolve(actual))),
  );
  deps.log.info({ host, port: bound }, "authz gRPC (ext_authz v3, health) listening");
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        draining = true;
        const force = setTimeout(() => server.forceShutdown(), limits.shutdownGraceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
