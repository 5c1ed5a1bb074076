import { createHash, timingSafeEqual } from "node:crypto";
import type { DeviceBinding } from "./config.js";
import type { CheckInput } from "./check-input.js";
import type { SessionState } from "./session-lookup.js";

// The auth service stores at most this much of the User-Agent, so compare the same prefix.
const STORED_USER_AGENT_LENGTH = 256;

/** SHA-256 over the stable request attributes the policy binds to, base64url. */
export function deviceFingerprint(userAgent: string): string {
  return createHash("sha256").update(userAgent.slice(0, STORED_USER_AGENT_LENGTH)).digest("base64url");
}

/**
 * Whether the request comes from the device the session was opened on. The session's recorded
 * fingerprint (`fp`) wins; sessions without one are fingerprinted from their recorded User-Agent.
 */
export function deviceMatches(policy: DeviceBinding, input: CheckInput, session: SessionState): boolean {
  if (policy === "off") return true;
  const expected = Buffer.from(session.fingerprint ?? deviceFingerprint(session.userAgent));
  const actual = Buffer.from(deviceFingerprint(input.headers.get("user-agent") ?? ""));
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
