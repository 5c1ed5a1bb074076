import { createHash, timingSafeEqual } from "node:crypto";
import { MAX_USER_AGENT_LENGTH } from "./session-record.js";

/** The request attributes a session can be bound to: stable for one browser, sent on every request. */
export const DEVICE_ATTRIBUTES = ["user-agent", "accept-language"] as const;
export type DeviceAttribute = (typeof DEVICE_ATTRIBUTES)[number];

/** DEVICE_BINDING: the attributes a session is bound to; empty when binding is off. */
export type DeviceBinding = readonly DeviceAttribute[];

/**
 * SHA-256 over the bound attributes, prefixed by their names ("user-agent,accept-language:<hash>"):
 * the auth service records it at sign-in (session field `fp`), and the fingerprint itself says what
 * it binds, so every Check holds the session to the attributes it was opened with, whatever its own
 * DEVICE_BINDING says (an authz instance configured without binding cannot let a bound session go).
 */
export function deviceFingerprint(binding: DeviceBinding, header: (name: DeviceAttribute) => string | undefined): string {
  const hash = createHash("sha256").update("device v1");
  for (const name of binding) hash.update(`\n${name}:${(header(name) ?? "").slice(0, MAX_USER_AGENT_LENGTH)}`);
  return `${binding.join(",")}:${hash.digest("base64url")}`;
}

/** The attributes a recorded fingerprint names; undefined if it is not one of ours. */
function boundAttributes(fingerprint: string): DeviceBinding | undefined {
  const names = fingerprint.slice(0, Math.max(0, fingerprint.indexOf(":"))).split(",");
  return names.length > 0 && names.every((name) => (DEVICE_ATTRIBUTES as readonly string[]).includes(name)) ? (names as DeviceAttribute[]) : undefined;
}

const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/**
 * Whether a request comes from the device its session was opened on. A session with a fingerprint
 * is held to it; one opened while binding was off has none, and is held to the User-Agent every
 * session records when this instance binds.
 */
export function deviceMatches(
  binding: DeviceBinding,
  header: (name: DeviceAttribute) => string | undefined,
  session: { fingerprint: string | undefined; userAgent: string },
): boolean {
  if (session.fingerprint !== undefined) {
    const bound = boundAttributes(session.fingerprint);
    return bound !== undefined && same(session.fingerprint, deviceFingerprint(bound, header));
  }
  if (binding.length === 0) return true;
  return same(deviceFingerprint(["user-agent"], () => session.userAgent), deviceFingerprint(["user-agent"], header));
}
