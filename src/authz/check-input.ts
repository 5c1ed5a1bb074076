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

const MAX_HEADER_VALUE_LENGTH = 65_536;

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
