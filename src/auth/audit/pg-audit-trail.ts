import type { JsonObject } from "@bufbuild/protobuf";
import type pg from "pg";
import type { AuditTrail } from "./audit-trail.js";

interface AuditRow {
  id: string;
  type: string;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  details: JsonObject;
  created_at: Date;
}

/** Reads the primary: an event the user just caused must be in the list they ask for next. */
export function createPgAuditTrail(primary: pg.Pool): AuditTrail {
  return {
    async listForUser(userId, page) {
      const result = await primary.query<AuditRow>(
        `SELECT id, type, ip, user_agent, request_id, details, created_at FROM audit_events
         WHERE user_id = $1 AND ($2::bigint IS NULL OR id < $2::bigint) ORDER BY id DESC LIMIT $3`,
        [userId, page.beforeId ?? null, page.limit],
      );
      return result.rows.map((row) => ({
        id: row.id,
        type: row.type,
        ip: row.ip ?? "",
        userAgent: row.user_agent ?? "",
        requestId: row.request_id ?? "",
        details: row.details,
        createdAt: row.created_at,
      }));
    },
  };
}
