export type AuditEventType =
  | "signup"
  | "signin.success"
  | "signin.failure"
  | "password.rehash"
  | "password.change"
  | "refresh.reuse"
  | "session.revoke"
  | "session.revoke_all"
  | "signin.locked"
  | "signup.existing_email"
  | "password.reset_requested"
  | "password.reset"
  | "email.verification_requested"
  | "email.verified"
  | "email.change_requested"
  | "email.changed"
  | "mfa.enrollment_started"
  | "mfa.enabled"
  | "mfa.disabled"
  | "mfa.challenge"
  | "mfa.failure"
  | "mfa.recovery_code_used"
  | "passkey.added"
  | "passkey.removed"
  | "passkey.failure"
  | "social.link_requested"
  | "social.link_mailed"
  | "social.link"
  | "social.unlink"
  | "admin.denied"
  | "admin.users_found"
  | "admin.user_viewed"
  | "admin.user_disabled"
  | "admin.user_enabled"
  | "admin.password_reset_forced"
  | "admin.second_factor_removed"
  | "admin.user_deleted"
  | "admin.role_granted"
  | "admin.role_revoked";

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
