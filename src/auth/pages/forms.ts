import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { cookieValue } from "../../contract/credentials.js";

export type Req = IncomingMessage;
export type Res = ServerResponse;

const CSRF_COOKIE = "auth_csrf";
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

/**
 * CSRF double submit (OWASP CSRF cheat sheet): a random token in a cookie and
 * in the form; a cross-site page can make the browser post, but cannot read
 * the cookie to put the same value in the form.
 */
export function createCsrf(secure: boolean) {
  const flags = `Path=/; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
  return {
    issue(): { token: string; setCookie: string } {
      const token = randomBytes(24).toString("base64url");
      return { token, setCookie: `${CSRF_COOKIE}=${token}; ${flags}` };
    },
    clear: `${CSRF_COOKIE}=; Max-Age=0; ${flags}`,
    matches(req: Req, token: string): boolean {
      // Byte lengths, not string lengths: "é" and "a" are one character each, and timingSafeEqual throws on unequal buffers.
      const presented = Buffer.from(token);
      const expected = Buffer.from(cookieOf(req, CSRF_COOKIE) ?? "");
      return presented.length > 0 && presented.length === expected.length && timingSafeEqual(presented, expected);
    },
  };
}

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
