import type { HandlerContext } from "@connectrpc/connect";
import type { Logger } from "../../platform/log.js";
import { kRequestMeta } from "../../platform/request-context.js";
import type { AuditEvent, AuditLog } from "./audit-log.js";

/** Records an event with the request's IP, user agent and request id. */
export type RequestAudit = (ctx: HandlerContext, event: AuditEvent) => Promise<void>;

export function createRequestAudit(audit: AuditLog, log: Logger): RequestAudit {
  return async (ctx, event) => {
    const meta = ctx.values.get(kRequestMeta);
    try {
      await audit.record({ ip: meta.ip, userAgent: meta.userAgent, requestId: meta.requestId, ...event });
    } catch (error) {
      // The request's own outcome stands; a lost audit row is loud in the logs instead.
      log.error({ err: error, event: event.type, requestId: meta.requestId }, "audit write failed");
    }
  };
}
