import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { kRequestMeta } from "./request-context.js";
import type { Tracing } from "./tracing.js";

// Envoy asks every instance for its health each second: a trace each would bury the real ones.
const UNTRACED = new Set(["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"]);

// The codes OpenTelemetry's RPC conventions count as the server's failure; the rest are the caller's.
const SERVER_FAULTS = new Set([Code.Unknown, Code.DeadlineExceeded, Code.Unimplemented, Code.Internal, Code.Unavailable, Code.DataLoss]);

/**
 * A SERVER span per RPC, continuing the trace of the traceparent the caller (Envoy) sent. Outermost,
 * so the span covers the whole answer and sees the client-safe error the error interceptor made.
 */
export function createTracingInterceptor(tracing: Tracing): Interceptor {
  return (next) => async (req) => {
    if (UNTRACED.has(req.service.typeName)) return next(req);
    const meta = req.contextValues.get(kRequestMeta);
    return tracing.serve(`${req.service.typeName}/${req.method.name}`, (name) => req.header.get(name) ?? undefined, meta.requestId, async (span) => {
      span.set({ "rpc.system": "connect_rpc", "rpc.service": req.service.typeName, "rpc.method": req.method.name });
      try {
        return await next(req);
      } catch (error) {
        const code = ConnectError.from(error).code;
        span.set({ "rpc.grpc.status_code": code });
        if (SERVER_FAULTS.has(code)) span.fault();
        throw error;
      }
    });
  };
}
