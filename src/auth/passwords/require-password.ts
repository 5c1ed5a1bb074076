import { invalidArgument } from "../../platform/errors.js";
import { MAX_PASSWORD_LENGTH } from "./password-policy.js";

// A password is hashed only after this cheap bound, so huge inputs cannot buy CPU time.
const MAX_PASSWORD_BYTES = MAX_PASSWORD_LENGTH * 4;

export function requirePassword(field: string, value: string): string {
  if (value === "") throw invalidArgument(`${field} is required`);
  if (Buffer.byteLength(value) > MAX_PASSWORD_BYTES) throw invalidArgument(`${field} must be at most ${MAX_PASSWORD_LENGTH} characters`);
  return value;
}
