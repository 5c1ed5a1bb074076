import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { ROLE_FORMAT } from "../../contract/roles.js";
import { invalidArgument } from "../../platform/errors.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CONTROL = /[\p{Cc}\p{Cf}]/u;
// RFC 5321 4.5.3.1: no address is longer, so neither is a prefix of one.
const MAX_PREFIX_BYTES = 254;
const MAX_REASON_LENGTH = 500;
// AIP-158: 0 means the default; larger than the maximum is clamped, not refused.
const DEFAULT_PAGE = 50;
const MAX_PAGE = 200;

/** Each check names the field and why, as a flat run of early throws. */
export function requireUserId(value: string, field = "user_id"): string {
  if (value === "") throw invalidArgument(`${field} is required`);
  if (!UUID.test(value)) throw invalidArgument(`${field} must be a user id (a UUID)`);
  return value.toLowerCase();
}

export function optionalUserId(value: string): string | undefined {
  return value === "" ? undefined : requireUserId(value);
}

export function requireRole(value: string): string {
  if (value === "") throw invalidArgument("role is required");
  if (!ROLE_FORMAT.test(value)) throw invalidArgument("role must be lower case: a letter, then letters, digits, '_', '.' or '-', at most 63 in all");
  return value;
}

export function optionalReason(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > MAX_REASON_LENGTH) throw invalidArgument(`reason must be at most ${MAX_REASON_LENGTH} characters`);
  if (CONTROL.test(value)) throw invalidArgument("reason must not contain control characters");
  return value;
}

/** Normalised as sign-up normalises addresses (NFC, lower case), so a prefix matches as typed. */
export function optionalEmailPrefix(value: string): string | undefined {
  const prefix = value.trim().normalize("NFC").toLowerCase();
  if (prefix === "") return undefined;
  if (Buffer.byteLength(prefix) > MAX_PREFIX_BYTES) throw invalidArgument(`email_prefix must be at most ${MAX_PREFIX_BYTES} bytes`);
  if (CONTROL.test(prefix)) throw invalidArgument("email_prefix must not contain control characters");
  return prefix;
}

export function optionalTime(value: Timestamp | undefined, field: string): Date | undefined {
  if (!value) return undefined;
  const date = timestampDate(value);
  // RFC 3339 years 0001-9999 (google.protobuf.Timestamp's own range); nanos within a second.
  if (value.nanos < 0 || value.nanos > 999_999_999 || Number.isNaN(date.getTime()) || date.getUTCFullYear() < 1 || date.getUTCFullYear() > 9999) {
    throw invalidArgument(`${field} is not a valid time`);
  }
  return date;
}

export function pageSize(value: number): number {
  if (value < 0) throw invalidArgument("page_size must not be negative");
  return Math.min(value || DEFAULT_PAGE, MAX_PAGE);
}

/** The token is the last user served, opaque to clients so the paging scheme may change. */
export const encodeUserCursor = (cursor: { createdMicros: string; id: string }) => Buffer.from(`v1:${cursor.createdMicros}:${cursor.id}`).toString("base64url");

export function decodeUserCursor(token: string): { createdMicros: string; id: string } | undefined {
  if (token === "") return undefined;
  if (token.length > 128) throw invalidArgument("page_token is not valid");
  const match = /^v1:(-?\d{1,19}):([0-9a-f-]{36})$/.exec(Buffer.from(token, "base64url").toString("utf8"));
  if (!match?.[1] || !match[2] || !UUID.test(match[2])) throw invalidArgument("page_token is not valid");
  return { createdMicros: match[1], id: match[2] };
}
