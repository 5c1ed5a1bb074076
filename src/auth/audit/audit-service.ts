import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { AuthService } from "../../gen/auth/v1/auth_pb.js";
import { invalidArgument } from "../../platform/errors.js";
import type { Authenticator } from "../authenticate.js";
import type { AuditTrail } from "./audit-trail.js";

export type AuditHandlers = Pick<ServiceImpl<typeof AuthService>, "listAuditEvents">;

export interface AuditServiceDeps {
  authenticator: Authenticator;
  trail: AuditTrail;
}

// AIP-158: 0 means the default; larger than the maximum is clamped, not refused.
const DEFAULT_PAGE = 50;
const MAX_PAGE = 200;

/** The token is the last id served, opaque to clients so the paging scheme may change. */
const encodeToken = (id: string) => Buffer.from(`v1:${id}`).toString("base64url");
function decodeToken(token: string): string | undefined {
  if (token === "") return undefined;
  const match = /^v1:(\d{1,19})$/.exec(Buffer.from(token, "base64url").toString("utf8"));
  if (!match?.[1]) throw invalidArgument("page_token is not valid");
  return match[1];
}

export function createAuditService(deps: AuditServiceDeps): AuditHandlers {
  return {
    async listAuditEvents(req, ctx) {
      const who = await deps.authenticator.authenticate(ctx.requestHeader.get("authorization"));
      if (req.pageSize < 0) throw invalidArgument("page_size must not be negative");
      const limit = Math.min(req.pageSize || DEFAULT_PAGE, MAX_PAGE);
      const rows = await deps.trail.listForUser(who.userId, { limit: limit + 1, beforeId: decodeToken(req.pageToken) });
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        events: page.map((e) => ({ ...e, createdAt: timestampFromDate(e.createdAt) })),
        nextPageToken: rows.length > limit && last ? encodeToken(last.id) : "",
      };
    },
  };
}
