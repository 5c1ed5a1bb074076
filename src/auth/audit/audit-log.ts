export type AuditEventType =
  | "signup"
  | "signin.success"
  | "signin.failure"
  | "password.rehash"
  | "password.change"
  | "refresh.reuse"
  | "session.revoke"
  | "session.revoke_all";

export interface AuditEvent {
  type: AuditEventType;
  userId?: string | undefined;
  ip?: string | undefined;
  userAgent?: string | undefined;
  requestId?: string | undefined;
  details?: Record<string, unknown>;
}

export interface AuditLog {
  record(event: AuditEvent): Promise<void>;
}
