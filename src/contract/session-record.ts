import type { SessionAcr } from "./auth-level.js";

/**
 * The session record in Redis, written by the auth service and read (never written) by every
 * authz instance. One hash per session, its refresh-token history beside it, and a per-user index:
 *
 *   session:{<id>}            hash of FIELD below; PEXPIREs at the idle timeout, capped by `exp`
 *   session:{<id>}:rotated    hash: retired refresh-token hash -> ms it was rotated (reuse detection)
 *   user:{<user id>}:sessions sorted set: session id scored by its absolute end (`exp`)
 *   user:{<user id>}:revoked_before  "<ms> <kept session id or ->": sessions of the user created
 *                             before <ms> are revoked, except the one named (a password change keeps
 *                             the session that made it). Set by one write before any session is
 *                             deleted, so a revocation is in force the moment it is set, whatever
 *                             happens to the deletes after it. It lives as long as a session
 *                             created before it could (the absolute session TTL).
 *   user:{<user id>}:roles    "<version> <role,role,...>": the roles of the user (user_roles, versioned by
 *                             users.roles_version), one key for all their sessions, so a grant or removal
 *                             reaches every session, and one being opened, in one write (roles.ts).
 *
 * Redis Cluster places a key by the part in braces (its hash tag): a session's two keys share the
 * session's slot, a user's two keys the user's, and sessions spread over every shard by their random
 * ids while a user's index and marker follow the user. No script or transaction spans both tags:
 * a reader takes a session with two single-key reads (the hash, then the user's marker); a sign-in
 * writes the hash, then the index; a revocation deletes the hash, then drops the id from the index.
 */
export const sessionKey = (id: string) => `session:{${id}}`;
export const rotatedKey = (id: string) => `session:{${id}}:rotated`;
export const userSessionsKey = (userId: string) => `user:{${userId}}:sessions`;
export const revokedBeforeKey = (userId: string) => `user:{${userId}}:revoked_before`;
export const userRolesKey = (userId: string) => `user:{${userId}}:roles`;

/** The value of `user:{<id>}:roles`. */
export interface UserRoles {
  version: number;
  roles: string[];
}

export const encodeUserRoles = ({ version, roles }: UserRoles) => `${version} ${roles.join(",")}`;

export function decodeUserRoles(value: string | null | undefined): UserRoles | undefined {
  const match = /^(\d+) ([a-z0-9_.,-]*)$/.exec(value ?? "");
  if (!match) return undefined;
  return { version: Number(match[1]), roles: match[2] ? match[2].split(",") : [] };
}

/** The value of `user:{<id>}:revoked_before`. */
export interface RevokedBefore {
  beforeMs: number;
  keepSessionId: string | undefined;
}

export const encodeRevokedBefore = ({ beforeMs, keepSessionId }: RevokedBefore) => `${beforeMs} ${keepSessionId ?? "-"}`;

export function decodeRevokedBefore(value: string | null | undefined): RevokedBefore | undefined {
  const [ms, keep] = (value ?? "").split(" ");
  const beforeMs = Number(ms);
  if (!ms || !Number.isFinite(beforeMs)) return undefined;
  return { beforeMs, keepSessionId: keep && keep !== "-" ? keep : undefined };
}

/** Whether the user's marker revokes this session: created before the cutoff, and not the one kept. */
export const revokedByMarker = (marker: RevokedBefore | undefined, sessionId: string, createdAtMs: number) =>
  marker !== undefined && createdAtMs < marker.beforeMs && sessionId !== marker.keepSessionId;

/** Hash fields of `session:{<id>}`; times are ms since the epoch, as decimal text. */
export const FIELD = {
  userId: "uid",
  createdAt: "created",
  lastSeenAt: "seen",
  /** The absolute end of the session, however active it is. */
  expiresAt: "exp",
  userAgent: "ua",
  ip: "ip",
  /** SessionAcr: "mfa" or "basic". */
  acr: "acr",
  /** "1" once the account's email is verified (at sign-in or a later VerifyEmail), else "0". */
  emailVerified: "ev",
  /** SHA-256 of the current refresh token (session-secret.ts). */
  refreshHash: "rt",
  /** SHA-256 of the browser cookie the hosted sign-in page issued, if any (session-secret.ts). */
  cookieHash: "ck",
  /** The device fingerprint taken at sign-in (device-fingerprint.ts), when device binding is on. */
  fingerprint: "fp",
  /**
   * The last proof of the user (OIDC `auth_time`): sign-in, or a current password given to a
   * sensitive change. Absent on sessions written before it existed: then `created`.
   */
  authTime: "at",
} as const;

/** At most this much of the User-Agent is stored, and so compared. */
export const MAX_USER_AGENT_LENGTH = 256;

/** The fields a reader takes, in the order `decodeSession` expects them (HMGET's answer). */
export const READ_FIELDS = [
  FIELD.userId,
  FIELD.createdAt,
  FIELD.lastSeenAt,
  FIELD.expiresAt,
  FIELD.userAgent,
  FIELD.ip,
  FIELD.acr,
  FIELD.emailVerified,
  FIELD.cookieHash,
  FIELD.fingerprint,
  FIELD.authTime,
] as const;

/** READ_FIELDS as Lua string literals, for scripts that read the same fields in the same order. */
export const READ_FIELDS_LUA = READ_FIELDS.map((field) => `'${field}'`).join(", ");

export interface StoredSession {
  userId: string;
  createdAtMs: number;
  lastSeenAtMs: number;
  expiresAtMs: number;
  userAgent: string;
  ip: string;
  acr: SessionAcr;
  emailVerified: boolean;
  cookieHash: string | undefined;
  fingerprint: string | undefined;
  authTimeMs: number;
}

/** The session in an HMGET of READ_FIELDS; undefined when the hash is gone or incomplete. */
export function decodeSession(values: readonly (string | null | undefined)[]): StoredSession | undefined {
  const [uid, created, seen, exp, ua, ip, acr, ev, ck, fp, at] = values;
  if (!uid || !created || !exp) return undefined;
  return {
    userId: uid,
    createdAtMs: Number(created),
    lastSeenAtMs: Number(seen ?? created),
    expiresAtMs: Number(exp),
    userAgent: ua ?? "",
    ip: ip ?? "",
    acr: acr === "mfa" ? "mfa" : "basic",
    emailVerified: ev === "1",
    cookieHash: ck ?? undefined,
    fingerprint: fp ?? undefined,
    authTimeMs: Number(at ?? created),
  };
}
