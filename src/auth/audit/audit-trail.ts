import type { JsonObject } from "@bufbuild/protobuf";

export interface StoredAuditEvent {
  id: string;
  type: string;
  ip: string;
  userAgent: string;
  requestId: string;
  details: JsonObject;
  createdAt: Date;
}

/** A user's own audit events, read back. */
export interface AuditTrail {
  /** Newest first; only events with an id below `beforeId` when given. */
  listForUser(userId: string, page: { limit: number; beforeId?: string | undefined }): Promise<StoredAuditEvent[]>;
}
