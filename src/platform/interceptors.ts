import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { toConnectError } from "./errors.js";
import type { Logger } from "./log.js";
import { kRequestMeta } from "./request-context.js";

const HEALTH_SERVICE = "grpc.health.v1.Health";

/**
 * Logs every call with its request id and turns whatever a handler throws
 * into a client-safe error: domain errors by the one mapping table, faults as
 * INTERNAL/UNAVAILABLE with no internals. The cause goes to the log only.
 */
export function createErrorInterceptor(log: Logger): Interceptor {
  return (next) => async (req) => {
    const meta = req.contextValues.get(kRequestMeta);
    const started = performance.now();
    const fields = { rpc: req.method.name, requestId: meta.requestId, ip: meta.ip };
    try {
      const res = await next(req);
      res.header.set("x-request-id", meta.requestId);
      // The gateway asks every instance for its health each second: an answered check is noise at info.
      const level = req.service.typeName === HEALTH_SERVICE ? "debug" : "info";
      log[level]({ ...fields, code: "ok", ms: Math.round(performance.now() - started) }, "rpc");
      return res;
    } catch (thrown) {
      const { error, fault } = toConnectError(thrown);
      error.metadata.set("x-request-id", meta.requestId);
      const entry = { ...fields, code: Code[error.code], ms: Math.round(performance.now() - started) };
      if (fault && error.code === Code.Unavailable) log.error({ ...entry, err: thrown }, "rpc failed: database or Redis unreachable");
      else if (fault) log.error({ ...entry, err: thrown }, "rpc failed");
      else log.info({ ...entry, reason: error.rawMessage }, "rpc");
      throw error;
    }
  };
}

/**
 * Every RPC answer is `Cache-Control: no-store`, error or not: they carry tokens (RFC 6749 5.1),
 * TOTP secrets and recovery codes, or the caller's own data, and none is the same for two callers.
 * Outermost, so it also marks the client-safe error the error interceptor made.
 */
export const noStoreInterceptor: Interceptor = (next) => async (req) => {
  try {
    const res = await next(req);
    res.header.set("cache-control", "no-store");
    return res;
  } catch (thrown) {
    if (thrown instanceof ConnectError) thrown.metadata.set("cache-control", "no-store");
    throw thrown;
  }
};
