import { createHmac } from "node:crypto";

/**
 * What stands for an erased user in the audit trail: HMAC-SHA256 under AUDIT_PSEUDONYM_KEY of the
 * user id, so the events of one erased user still read as one subject, and only someone holding both
 * the key and the old id (kept nowhere by us) can tie them back to it. "p1:" names the scheme.
 */
export const auditPseudonym = (key: Buffer, userId: string) => `p1:${createHmac("sha256", key).update(userId).digest("base64url")}`;
