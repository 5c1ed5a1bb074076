import { createHash, timingSafeEqual } from "node:crypto";

/** The metadata key (gRPC Check) and header (forward-auth) that carry AUTHZ_CHECK_SECRET. */
export const CALLER_SECRET_HEADER = "x-authz-secret";

/**
 * Whether a caller of Check or forward-auth presented the shared secret: always true when none is
 * configured. Compared as SHA-256 digests in constant time, so neither the secret's length nor a
 * matching prefix shows in the answer time.
 */
export function createCallerCheck(secret: string | undefined): (presented: string | undefined) => boolean {
  if (secret === undefined) return () => true;
  const expected = createHash("sha256").update(secret).digest();
  return (presented) => presented !== undefined && timingSafeEqual(createHash("sha256").update(presented).digest(), expected);
}
