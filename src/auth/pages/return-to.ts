const MAX_LENGTH = 2048;

/**
 * Where to send the browser after sign-in: only a path on this site. Anything
 * else ("//evil.example", "https://...", "/\\evil", control characters) would
 * make the sign-in page an open redirect (OWASP Unvalidated Redirects).
 */
export function safeReturnTo(candidate: string | null | undefined): string {
  if (!candidate || candidate.length > MAX_LENGTH) return "/";
  if (!candidate.startsWith("/") || candidate.startsWith("//") || candidate.startsWith("/\\")) return "/";
  // Printable ASCII only: browsers send anything else percent-encoded, and a raw one would not fit a Location header.
  if (/[^\u0021-\u007e]|\\/.test(candidate)) return "/";
  return candidate;
}
