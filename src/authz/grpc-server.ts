import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { bindGrpcServer, healthService, serviceOf, type ServingStatus } from "../platform/grpc-health.js";
import type { ListenerLimits } from "../platform/listener-limits.js";
import type { Logger } from "../platform/log.js";
import type { ProtoDirs } from "../platform/proto-dirs.js";
import type { Tracing } from "../platform/tracing.js";
import type { Authorizer } from "./authorizer.js";
import { CALLER_SECRET_HEADER } from "./caller-secret.js";
import { fromEnvoyRequest, InvalidCheckRequest, toEnvoyResponse, type EnvoyCheckRequest, type EnvoyCheckResponse } from "./envoy-check.js";

export interface GrpcServerDeps {
  authorizer: Authorizer;
  /** Whether this instance can give useful answers; drives grpc.health.v1 so Envoy steers away when not. */
  serving(): Promise<boolean>;
  protoDirs: ProtoDirs;
  log: Logger;
  /** True when the call's `x-authz-secret` metadata is AUTHZ_CHECK_SECRET (or none is configured). */
  callerAllowed(presented: string | undefined): boolean;
  /** A span per Check, continuing the trace of Envoy's ext_authz call (its traceparent metadata). */
  tracing: Tracing;
}

export interface GrpcServer {
  port: number;
  /** Health answers NOT_SERVING, new calls are refused (GOAWAY), calls in flight finish within the grace; then the rest are cut. */
  close(): Promise<void>;
}

const AUTHORIZATION_SERVICE = "envoy.service.auth.v3.Authorization";
const CHECK_SPAN = `${AUTHORIZATION_SERVICE}/Check`;
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

export async function startGrpcServer(deps: GrpcServerDeps, host: string, port: number, limits: ListenerLimits): Promise<GrpcServer> {
  const root = loadAuthzProtos(deps.protoDirs);
  const server = new grpc.Server({
    "grpc.max_receive_message_length": MAX_CHECK_REQUEST_BYTES,
    "grpc.max_concurrent_streams": limits.maxConcurrentStreams,
    "grpc.max_connection_idle_ms": limits.idleTimeoutMs,
  });
  const known = new Set(["", AUTHORIZATION_SERVICE]);
  let draining = false;
  const status = async (): Promise<ServingStatus> => (!draining && (await deps.serving().catch(() => false)) ? "SERVING" : "NOT_SERVING");

  server.addService(serviceOf(root, AUTHORIZATION_SERVICE), {
    Check(call: grpc.ServerUnaryCall<EnvoyCheckRequest, EnvoyCheckResponse>, callback: grpc.sendUnaryData<EnvoyCheckResponse>) {
      let input;
      try {
        const presented = call.metadata.get(CALLER_SECRET_HEADER)[0];
        // Not a deny but an error: the caller is not our gateway, and Envoy's failure mode decides (closed).
        if (!deps.callerAllowed(typeof presented === "string" ? presented : undefined)) {
          callback({ code: grpc.status.UNAUTHENTICATED, details: "caller secret missing or wrong" });
          return;
        }
        input = fromEnvoyRequest(call.request);
      } catch (error) {
        if (!(error instanceof InvalidCheckRequest)) throw error;
        callback({ code: grpc.status.INVALID_ARGUMENT, details: error.message });
        return;
      }
      const checked = input;
      const metadata = (name: string) => {
        const value = call.metadata.get(name)[0];
        return typeof value === "string" ? value : undefined;
      };
      deps.tracing
        .serve(CHECK_SPAN, metadata, (checked.headers.get("x-request-id") ?? "").slice(0, 128), async (span) => {
          span.set({ "rpc.system": "grpc", "rpc.service": AUTHORIZATION_SERVICE, "rpc.method": "Check" });
          try {
            const answer = await deps.authorizer.authorize(checked, "grpc", true);
            span.set({ "authz.decision": answer.decision.allow ? "allow" : "deny", "authz.reason": answer.decision.reason });
            return answer;
          } catch (error) {
            span.fault();
            throw error;
          }
        })
        .then(
          ({ decision, verdict }) => callback(null, toEnvoyResponse(verdict, decision)),
          // The cause is logged by the authorizer and never sent; Envoy's failure_mode_allow decides what happens next.
          () => callback({ code: grpc.status.INTERNAL, details: "internal error" }),
        );
    },
  });

  server.addService(serviceOf(root, "grpc.health.v1.Health"), healthService(known, status));

  const bound = await bindGrpcServer(server, host, port, { graceMs: limits.shutdownGraceMs, delayMs: limits.shutdownDelayMs, onDrain: () => (draining = true) });
  deps.log.info({ host, port: bound.port }, "authz gRPC (ext_authz v3, health) listening");
  return bound;
}
