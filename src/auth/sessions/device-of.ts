import { deviceFingerprint, type DeviceBinding } from "../../contract/device-fingerprint.js";
import type { RequestMeta } from "../../platform/request-context.js";
import type { NewSession } from "./session-store.js";

/** The fingerprint a new session records for its device (DEVICE_BINDING), from the request that opens it; undefined when binding is off. */
export type DeviceOf = (meta: RequestMeta) => string | undefined;

export function createDeviceOf(binding: DeviceBinding): DeviceOf {
  if (binding.length === 0) return () => undefined;
  return (meta) => deviceFingerprint(binding, (name) => (name === "user-agent" ? meta.userAgent : meta.acceptLanguage));
}

/** A new session as a sign-in opens it: what it proved, and the device and address of the request that proved it. */
export const sessionOpenedBy = (meta: RequestMeta, deviceOf: DeviceOf, proof: Pick<NewSession, "userId" | "secondFactor" | "emailVerified" | "provenAt">): NewSession => ({
  ...proof,
  userAgent: meta.userAgent,
  ip: meta.ip,
  fingerprint: deviceOf(meta),
});
