import { createHash } from "node:crypto";

/**
 * Emails and IPs enter Redis keys only as digests, so a key dump is not a list of addresses. The
 * auth service's budgets and the gateway's rate limit service key client addresses alike.
 */
export const limiterKey = (value: string) => createHash("sha256").update(value).digest("base64url").slice(0, 32);
