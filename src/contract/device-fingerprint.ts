import { createHash, timingSafeEqual } from "node:crypto";
import { MAX_USER_AGENT_LENGTH } from "./session-record.js";

/** The request attributes a session can be bound to: stable for one browser, sent on every request. */
export const DEVICE_ATTRIBUTES = ["user-agent", "accept-language"] as const;
export type DeviceAttribute = (typeof DEVICE_ATTRIBUTES)[number];

/** DEVICE_BINDING: the attributes a session is bound to; empty when binding is off. */
export type DeviceBinding = readonly DeviceAttribute[];

/**
 * SHA-256 over the bound attributes, names included, so that changing DEVICE_BINDING changes
 * every fingerprint rather than comparing one set of attributes with another. The auth service
 * records it at sign-in (session field `fp`); the authz server recomputes it for each request.
 */
export function deviceFingerprint(binding: DeviceBinding, header: (name: DeviceAttribute) => string | undefined): string {
  const hash = createHash("sha256").update("device v1");
  for (const name of binding) hash.update(`\n${name}:${(header(name) ?? "").slice(0, MAX_USER_AGENT_LENGTH)}`);
  return hash.digest("base64url");
}

/**
 * Whether a request comes from the device its session was opened on. A session opened while
 * binding was off has no fingerprint; it is held to the User-Agent, which every session records.
 */
export function deviceMatches(
  binding: DeviceBinding,
  header: (name: DeviceAttribute) => string | undefined,
  session: { fingerprint: string | undefined; userAgent: string },
): boolean {
  if (binding.length === 0) return true;
  const [expected, actual] =
    session.fingerprint === undefined
      ? [deviceFingerprint(["user-agent"], () => session.userAgent), deviceFingerprint(["user-agent"], header)]
      : [session.fingerprint, deviceFingerprint(binding, header)];
  const a = Buffer.from(expected);
  const b = Buffer.from(actual);
  return a.length === b.length && timingSafeEqual(a, b);
}
