import { COOKIE_NAME } from "./credentials.js";
import { DEVICE_ATTRIBUTES, type DeviceAttribute, type DeviceBinding } from "./device-fingerprint.js";
import type { EnvReader } from "../platform/config.js";

/**
 * The settings the auth service and the authz server must agree on, read by both from the same
 * variables with the same defaults: one name and one default per concept, so two services
 * configured apart cannot drift.
 */
export interface SharedSettings {
  /** PUBLIC_BASE_URL, default http://127.0.0.1:8080: where the deployment is reached (the gateway); links in mail point here. */
  publicBaseUrl: string;
  /** AUTH_ISSUER, default PUBLIC_BASE_URL: the `iss` of every access token, the same for every auth instance. */
  issuer: string;
  /** AUTH_AUDIENCE, default auth-platform: the `aud` of every access token. */
  audience: string;
  /**
   * SESSION_COOKIE_NAME, default auth_session: the hosted sign-in page sets it, the Check reads it.
   * This is the effective name: `__Host-` prefixed when PUBLIC_BASE_URL is https (hostPrefixed).
   */
  sessionCookieName: string;
  /**
   * DEVICE_BINDING, default off: or a comma-separated list of user-agent, accept-language. The
   * auth service fingerprints those attributes at sign-in; the Check denies a request whose own
   * differ (reason device_mismatch).
   */
  deviceBinding: DeviceBinding;
}

export function readSharedSettings(read: EnvReader): SharedSettings {
  const publicBaseUrl = (read.optionalUrl("PUBLIC_BASE_URL", ["http:", "https:"]) ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
  const sessionCookieName = read.string("SESSION_COOKIE_NAME", "auth_session");
  if (!COOKIE_NAME.test(sessionCookieName)) read.report(`SESSION_COOKIE_NAME "${sessionCookieName}" is not a valid cookie name`);
  return {
    publicBaseUrl,
    issuer: read.string("AUTH_ISSUER", publicBaseUrl),
    audience: read.string("AUTH_AUDIENCE", "auth-platform"),
    sessionCookieName: hostPrefixed(sessionCookieName, publicBaseUrl),
    deviceBinding: readDeviceBinding(read),
  };
}

/**
 * RFC 6265bis 4.1.3.2: on an HTTPS deployment a cookie named `__Host-...` is accepted by browsers
 * only if Secure, Path=/ and without Domain, so a sibling subdomain or a plain-http page cannot
 * plant or overwrite it (session fixation, CSRF-cookie injection). Both services derive the name
 * here, so the cookie the auth service sets is the one the Check reads. A name that already
 * carries a `__Host-` or `__Secure-` prefix is kept as it is.
 */
export function hostPrefixed(name: string, publicBaseUrl: string): string {
  if (!publicBaseUrl.startsWith("https:") || /^__(Host|Secure)-/.test(name)) return name;
  return `__Host-${name}`;
}

function readDeviceBinding(read: EnvReader): DeviceBinding {
  const value = read.string("DEVICE_BINDING", "off");
  if (value === "off") return [];
  const names = value.split(",").map((name) => name.trim().toLowerCase());
  const unknown = names.filter((name) => !(DEVICE_ATTRIBUTES as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0) {
    read.report(`DEVICE_BINDING must be off or a comma-separated list of ${DEVICE_ATTRIBUTES.join(", ")}; got "${value}"`);
    return [];
  }
  return [...new Set(names as DeviceAttribute[])];
}
