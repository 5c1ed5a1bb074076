import { invalidArgument } from "../platform/errors.js";

// RFC 5321 4.5.3.1: 64 octets local part, 254 for the whole path.
const MAX_LOCAL = 64;
const MAX_TOTAL = 254;
const FORBIDDEN = /[\s\p{Cc}\p{Cf}<>()[\]\\,;:"@]/u;

/**
 * Normalises an email for storage and lookup (NFC, lower case) and rejects
 * anything that is not a plausible mailbox. Unicode (RFC 6531) is allowed.
 */
export function normalizeEmail(input: string): string {
  const email = input.trim().normalize("NFC").toLowerCase();
  if (email === "") throw invalidArgument("email is required");
  if (Buffer.byteLength(email) > MAX_TOTAL) throw invalidArgument(`email must be at most ${MAX_TOTAL} bytes`);
  const at = email.lastIndexOf("@");
  if (at <= 0 || at === email.length - 1) throw invalidArgument("email must look like name@example.com");
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (Buffer.byteLength(local) > MAX_LOCAL) throw invalidArgument(`email local part must be at most ${MAX_LOCAL} bytes`);
  if (FORBIDDEN.test(local) || FORBIDDEN.test(domain)) throw invalidArgument("email contains characters that are not allowed");
  const labels = domain.split(".");
  if (labels.length < 2 || labels.some((label) => label === "" || label.startsWith("-") || label.endsWith("-"))) {
    throw invalidArgument("email domain is not valid");
  }
  if (local.startsWith(".") || local.endsWith(".") || local.includes("..")) {
    throw invalidArgument("email local part is not valid");
  }
  return email;
}
