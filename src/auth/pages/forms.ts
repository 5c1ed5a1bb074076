import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { cookieValue } from "../../contract/credentials.js";

export type Req = IncomingMessage;
export type Res = ServerResponse;

const MAX_FORM_BYTES = 8192;

/** A cookie of the request, parsed as the gateway parses it, so both act on the same session. */
export const cookieOf = (req: Req, name: string): string | undefined => cookieValue(req.headers.cookie, name);

/** The urlencoded form of a POST, "too_large" past MAX_FORM_BYTES, undefined for any other body. */
export function readForm(req: Req): Promise<URLSearchParams | "too_large" | undefined> {
  return new Promise((resolve) => {
    if (!/^application\/x-www-form-urlencoded/i.test(req.headers["content-type"] ?? "")) return resolve(undefined);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_FORM_BYTES) chunks.push(chunk);
    });
    req.on("end", () => resolve(size > MAX_FORM_BYTES ? "too_large" : strictForm(Buffer.concat(chunks))));
    req.on("error", () => resolve(undefined));
  });
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The form, or undefined when its bytes or its percent-escapes are not UTF-8: URLSearchParams
 * would replace them with U+FFFD, and a replaced address could name another account.
 */
function strictForm(body: Buffer): URLSearchParams | undefined {
  let text: string;
  try {
    text = strictUtf8.decode(body);
    // decodeURIComponent throws URIError on escapes that are not UTF-8 (ECMA-262 Decode).
    for (const part of text.split("&")) decodeURIComponent(part.replace(/\+/g, " "));
  } catch {
    return undefined;
  }
  return new URLSearchParams(text);
}

/** Sends a page with headers that keep it from being framed, cached, or running anything but its own nonce'd script. */
export function sendHtml(res: Res, status: number, html: string, options: { nonce?: string; headers?: Record<string, string | string[]> } = {}) {
  const script = options.nonce ? ` script-src 'nonce-${options.nonce}';` : "";
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": `default-src 'none';${script} style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    ...options.headers,
  });
  res.end(html);
}

export interface CsrfOptions {
  /** `auth_csrf`, or `__Host-auth_csrf` on an HTTPS deployment (shared-settings.ts hostPrefixed). */
  cookieName: string;
  secure: boolean;
  /** 32 bytes: the HMAC key that binds a form's token to its pre-session. */
  key: Buffer;
  /** The origin of PUBLIC_BASE_URL: where the forms are served to browsers. */
  publicOrigin: string;
}

const PRE_SESSION = /^[A-Za-z0-9_-]{43}$/;

/**
 * CSRF protection for every state-changing form (OWASP CSRF cheat sheet, ASVS V3.4.4, V4.2.2):
 * - a signed double submit: the cookie holds a random pre-session id, the form a token that is
 *   HMAC(key, pre-session id); a cookie planted by a sibling subdomain with a form value of the
 *   attacker's choosing does not pass, since nobody without the key can make the pair;
 * - Fetch Metadata, else Origin: a post a browser marks `Sec-Fetch-Site` other than same-origin
 *   (or `none`, a user's own navigation) is refused whatever its token; without Fetch Metadata,
 *   so is one whose `Origin` is neither PUBLIC_BASE_URL's nor the request's own host. A client
 *   that sends neither (or `Origin: null`) still needs the token.
 */
export function createCsrf(options: CsrfOptions) {
  const flags = `Path=/; HttpOnly; SameSite=Strict${options.secure ? "; Secure" : ""}`;
  const tokenOf = (preSession: string) => createHmac("sha256", options.key).update(`csrf:${preSession}`).digest("base64url");

  function sameOrigin(req: Req): boolean {
    // Fetch Metadata first: a browser that sends it says exactly where the post came from.
    const site = req.headers["sec-fetch-site"];
    if (site !== undefined) return site === "same-origin" || site === "none";
    const origin = req.headers.origin;
    // Our pages send Referrer-Policy: no-referrer, so an older browser posts them with Origin: null.
    if (origin === undefined || origin === "null") return true;
    if (origin === options.publicOrigin) return true;
    try {
      // The request's own origin: the Host a browser sent with it, which a cross-site page cannot choose.
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  }

  return {
    issue(): { token: string; setCookie: string } {
      const preSession = randomBytes(32).toString("base64url");
      return { token: tokenOf(preSession), setCookie: `${options.cookieName}=${preSession}; ${flags}` };
    },
    clear: `${options.cookieName}=; Max-Age=0; ${flags}`,
    /** True when the post comes from our own pages and carries the token of its pre-session. */
    accepts(req: Req, token: string): boolean {
      if (!sameOrigin(req)) return false;
      const preSession = cookieOf(req, options.cookieName) ?? "";
      if (!PRE_SESSION.test(preSession)) return false;
      // Byte lengths, not string lengths: timingSafeEqual throws on unequal buffers, and "é" is two bytes.
      const presented = Buffer.from(token);
      const expected = Buffer.from(tokenOf(preSession));
      return presented.length === expected.length && timingSafeEqual(presented, expected);
    },
  };
}

export type Csrf = ReturnType<typeof createCsrf>;

export const newNonce = () => randomBytes(16).toString("base64");

/**
 * Runs a page's async work so that nothing it throws escapes: an unhandled
 * rejection would end the whole process, and with it every other request.
 */
export function answerSafely(res: Res, work: Promise<unknown>, onError: (error: unknown) => void): void {
  work.catch((error: unknown) => {
    onError(error);
    if (!res.headersSent) sendHtml(res, 503, "<!doctype html><title>Unavailable</title><h1>Please try again</h1>");
    else res.destroy();
  });
}
