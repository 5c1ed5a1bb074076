import type pg from "pg";
import { outlivingCall } from "../../platform/request-deadline.js";
import type { AuditLog } from "./audit-log.js";

export function createPgAuditLog(primary: pg.Pool): AuditLog {
  return {
    // Recorded after the effect it tells of, so a caller's deadline must not drop it.
    async record(event) {
      await outlivingCall(() => primary.query(
        "INSERT INTO audit_events (user_id, type, ip, user_agent, request_id, details) VALUES ($1, $2, $3, $4, $5, $6)",
        [
          event.userId ?? null,
          event.type,
          event.ip ?? null,
          event.userAgent?.slice(0, 512) ?? null,
          event.requestId?.slice(0, 128) ?? null,
          JSON.stringify(event.details ?? {}),
        ],
      ));
    },
  };
}
