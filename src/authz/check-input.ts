/** What every front end (Envoy gRPC, HTTP forward-auth) reduces a request to before the pipeline sees it. */
export interface CheckInput {
  method: string;
  /** The path without query or fragment, as the client sent it (not decoded). */
  path: string;
  /** The query without `?`, kept only to send a browser back where it was going. */
  query: string;
  host: string;
  /** Header names lower-cased; repeated headers joined by ", " (cookies by "; "). */
  headers: ReadonlyMap<string, string>;
}

// Larger than any credential we issue; anything bigger is refused unparsed.
const MAX_AUTHORIZATION_LENGTH = 4096 + 16;
const MAX_COOKIE_HEADER_LENGTH = 16_384;
const MAX_HEADER_VALUE_LENGTH = 65_536;
const JWT_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Builds the header map from name/value pairs, joining repeats the way RFC 9110 5.3 allows. */
export function headerMap(pairs: Iterable<readonly [string, string]>): Map<string, string> {
  const headers = new Map<string, string>();
  for (const [rawName, value] of pairs) {
    const name = rawName.toLowerCase();
    if (name.startsWith(":")) continue;
    const previous = headers.get(name);
    const joined = previous === undefined ? value : `${previous}${name === "cookie" ? "; " : ", "}${value}`;
    headers.set(name, joined.length > MAX_HEADER_VALUE_LENGTH ? joined.slice(0, MAX_HEADER_VALUE_LENGTH) : joined);
  }
  return headers;
}

export type BearerResult = { kind: "none" } | { kind: "malformed" } | { kind: "token"; token: string };

/** RFC 6750 2.1: `Authorization: Bearer <b64token>`, scheme case-insensitive; our tokens are compact JWTs. */
export function bearerToken(headers: ReadonlyMap<string, string>): BearerResult {
  const value = headers.get("authorization");
  if (value === undefined) return { kind: "none" };
  if (value.length > MAX_AUTHORIZATION_LENGTH) return { kind: "malformed" };
  const match = /^bearer +(\S+)$/i.exec(value.trim());
  if (!match?.[1]) return /^bearer\b/i.test(value.trim()) ? { kind: "malformed" } : { kind: "none" };
  return JWT_COMPACT.test(match[1]) ? { kind: "token", token: match[1] } : { kind: "malformed" };
}

/** The first cookie called `name` (RFC 6265 5.4 sends them most-specific first), or undefined. */
export function cookieValue(headers: ReadonlyMap<string, string>, name: string): string | undefined {
  const header = headers.get("cookie");
  if (header === undefined || header.length > MAX_COOKIE_HEADER_LENGTH) return undefined;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    const value = pair.slice(eq + 1).trim();
    return value.startsWith('"') && value.endsWith('"') && value.length >= 2 ? value.slice(1, -1) : value;
  }
  return undefined;
}

/** A navigation a browser made (so a redirect to sign in helps), not an API call. */
export function isBrowserNavigation(input: CheckInput): boolean {
  if (input.method !== "GET" && input.method !== "HEAD") return false;
  return /(^|,)\s*text\/html\b/i.test(input.headers.get("accept") ?? "");
}

/** Splits a request target into path and query, dropping any fragment. */
export function splitTarget(target: string): { path: string; query: string } {
  const noFragment = target.split("#", 1)[0] ?? "";
  const q = noFragment.indexOf("?");
  const path = q < 0 ? noFragment : noFragment.slice(0, q);
  return { path: path === "" ? "/" : path, query: q < 0 ? "" : noFragment.slice(q + 1) };
}

/**
 * Whether the path means what it says to every proxy and upstream: no dot segments, no doubled or
 * encoded slashes, dots or backslashes. Only such paths may match a public prefix, so
 * `/signin/..%2fexample/` cannot borrow the sign-in page's exemption (OWASP ASVS 4.0 V12.3.1).
 */
export function isCanonicalPath(path: string): boolean {
  if (!path.startsWith("/") || path.includes("//") || path.includes("\\")) return false;
  if (/%(2e|2f|5c|00)/i.test(path)) return false;
  // A "." or ".." segment, without splitting the path into an array.
  return !/(^|\/)\.\.?(\/|$)/.test(path);
}
