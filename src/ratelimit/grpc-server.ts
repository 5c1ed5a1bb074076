import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { bindGrpcServer, healthService, serviceOf, type ServingStatus } from "../platform/grpc-health.js";
import type { Logger } from "../platform/log.js";
import type { ProtoDirs } from "../platform/proto-dirs.js";
import { InvalidRateLimitRequest, parseRateLimitRequest, type EnvoyRateLimitRequest } from "./descriptors.js";
import type { GatewayLimiter, RateLimitVerdict } from "./limiter.js";
import type { RateLimitMetrics } from "./metrics.js";
import { ruleName } from "./rules.js";

export interface RateLimitGrpcDeps {
  limiter: GatewayLimiter;
  metrics: RateLimitMetrics;
  domain: string;
  serving(): Promise<boolean>;
  protoDirs: ProtoDirs;
  log: Logger;
}

/** RateLimitResponse as proto-loader serialises it (keepCase, enums as strings). */
export interface EnvoyRateLimitResponse {
  overall_code: "OK" | "OVER_LIMIT";
  statuses: Array<{
    code: "OK" | "OVER_LIMIT";
    current_limit?: { name: string; requests_per_unit: number; unit: string };
    limit_remaining?: number;
    duration_until_reset?: { seconds: number; nanos: number };
  }>;
  response_headers_to_add?: Array<{ key: string; value: string }>;
}

export const RATE_LIMIT_SERVICE = "envoy.service.ratelimit.v3.RateLimitService";
// 16 descriptors of 8 entries at their longest take about 41 KiB; anything bigger is not from Envoy.
const MAX_REQUEST_BYTES = 64 * 1024;

export function loadRateLimitProtos(dirs: ProtoDirs): grpc.GrpcObject {
  const definition = protoLoader.loadSync(["envoy/service/ratelimit/v3/rls.proto", "grpc/health/v1/health.proto"], {
    includeDirs: [dirs.envoyApi, dirs.project],
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition);
}

/**
 * The verdict as Envoy reads it: with `enable_x_ratelimit_headers: DRAFT_VERSION_03` Envoy turns
 * current_limit, limit_remaining and duration_until_reset into x-ratelimit-limit/-remaining/-reset,
 * and adds response_headers_to_add to its 429 (RFC 6585 4), here RFC 9110 10.2.3 `retry-after`.
 */
export function toEnvoyResponse(verdict: RateLimitVerdict): EnvoyRateLimitResponse {
  const code = (over: boolean): "OK" | "OVER_LIMIT" => (over ? "OVER_LIMIT" : "OK");
  return {
    overall_code: code(verdict.overLimit),
    statuses: verdict.descriptors.map((d) =>
      d.limited
        ? {
            code: code(d.overLimit),
            current_limit: { name: ruleName(d.rule), requests_per_unit: d.rule.points, unit: d.rule.unit },
            limit_remaining: d.remaining,
            duration_until_reset: { seconds: Math.floor(d.msUntilReset / 1000), nanos: (d.msUntilReset % 1000) * 1_000_000 },
          }
        : { code: "OK" },
    ),
    ...(verdict.retryAfterSeconds === undefined ? {} : { response_headers_to_add: [{ key: "retry-after", value: String(verdict.retryAfterSeconds) }] }),
  };
}

export async function startRateLimitGrpcServer(deps: RateLimitGrpcDeps, host: string, port: number): Promise<{ port: number; close(): Promise<void> }> {
  const root = loadRateLimitProtos(deps.protoDirs);
  const server = new grpc.Server({ "grpc.max_receive_message_length": MAX_REQUEST_BYTES });
  const status = async (): Promise<ServingStatus> => ((await deps.serving().catch(() => false)) ? "SERVING" : "NOT_SERVING");

  server.addService(serviceOf(root, RATE_LIMIT_SERVICE), {
    ShouldRateLimit(call: grpc.ServerUnaryCall<EnvoyRateLimitRequest, EnvoyRateLimitResponse>, callback: grpc.sendUnaryData<EnvoyRateLimitResponse>) {
      const started = process.hrtime.bigint();
      const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
      let request;
      try {
        request = parseRateLimitRequest(call.request, deps.domain);
      } catch (error) {
        if (!(error instanceof InvalidRateLimitRequest)) throw error;
        deps.log.warn({ reason: error.message }, "malformed ShouldRateLimit refused");
        deps.metrics.observe("invalid", seconds());
        callback({ code: grpc.status.INVALID_ARGUMENT, details: error.message });
        return;
      }
      deps.limiter.decide(request).then(
        (verdict) => {
          deps.metrics.observe(verdict.overLimit ? "over_limit" : "ok", seconds(), verdict);
          callback(null, toEnvoyResponse(verdict));
        },
        (error: unknown) => {
          deps.metrics.observe("unavailable", seconds());
          // Envoy's failure_mode_deny decides what an unanswerable call means (envoy.yaml: let it through).
          deps.log.warn({ err: error instanceof Error ? error.message : String(error) }, "rate limit store unavailable");
          callback({ code: grpc.status.UNAVAILABLE, details: "rate limit store unavailable" });
        },
      );
    },
  });
  server.addService(serviceOf(root, "grpc.health.v1.Health"), healthService(new Set(["", RATE_LIMIT_SERVICE]), status));

  const bound = await bindGrpcServer(server, host, port);
  deps.log.info({ host, port: bound.port, domain: deps.domain }, "rate limit service (envoy.service.ratelimit.v3, health) listening");
  return bound;
}
