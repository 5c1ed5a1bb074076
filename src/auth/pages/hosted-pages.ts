import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Code, ConnectError, createContextValues, type Client } from "@connectrpc/connect";
import { decodeJwt } from "jose";
import type { AuthService } from "../../gen/auth/v1/auth_pb.js";
import type { Logger } from "../../platform/log.js";
import { kRequestMeta, type RequestMeta } from "../../platform/request-context.js";
import type { SessionStore } from "../sessions/session-store.js";
import { parseSessionCookie } from "../sessions/refresh-token.js";
import { escapeHtml, page } from "./html.js";
import { safeReturnTo } from "./return-to.js";

export interface SessionCookieConfig {
  /** SESSION_COOKIE_NAME, default auth_session. */
  name: string;
  /** SESSION_COOKIE_SECURE, default true: the cookie only travels over HTTPS (and localhost). */
  secure: boolean;
  /** The session's absolute lifetime; the cookie expires with it. */
  maxAgeMs: number;
}

export interface HostedPagesDeps {
  /** The auth service itself, in process: the page gets every rule of SignIn (limits, lockout, audit). */
  auth: Client<typeof AuthService>;
  sessions: SessionStore;
  cookie: SessionCookieConfig;
  log: Logger;
}

type Req = IncomingMessage;
type Res = ServerResponse;

const CSRF_COOKIE = "auth_csrf";
const MAX_FORM_BYTES = 8192;

function cookies(req: Req): Map<string, string> {
  const jar = new Map<string, string>();
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) jar.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return jar;
}

/** The urlencoded form of a POST, "too_large" past MAX_FORM_BYTES, undefined for any other body. */
function readForm(req: Req): Promise<URLSearchParams | "too_large" | undefined> {
  return new Promise((resolve) => {
    if (!/^application\/x-www-form-urlencoded/i.test(req.headers["content-type"] ?? "")) return resolve(undefined);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_FORM_BYTES) chunks.push(chunk);
    });
    req.on("end", () => resolve(size > MAX_FORM_BYTES ? "too_large" : new URLSearchParams(Buffer.concat(chunks).toString("utf8"))));
    req.on("error", () => resolve(undefined));
  });
}

const sameToken = (a: string, b: string) => a.length === b.length && a.length > 0 && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * The hosted sign-in page: plain server-rendered HTML, a CSRF double-submit
 * token, and on success an HttpOnly SameSite cookie and a redirect back to
 * the page the browser wanted.
 */
export function createHostedPages(deps: HostedPagesDeps) {
  const { cookie } = deps;
  const secure = cookie.secure ? "; Secure" : "";

  function send(res: Res, status: number, html: string, headers: Record<string, string | string[]> = {}) {
    res.writeHead(status, {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      "x-frame-options": "DENY",
      "referrer-policy": "no-referrer",
      ...headers,
    });
    res.end(html);
  }

  function signInForm(returnTo: string, csrf: string, error?: string): string {
    return page(
      "Sign in",
      `<h1>Sign in</h1>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ""}
<form method="post" action="/signin">
  <input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
  <input type="hidden" name="return_to" value="${escapeHtml(returnTo)}">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" autocomplete="username" required maxlength="254">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="128">
  <button type="submit">Sign in</button>
</form>`,
    );
  }

  function showForm(res: Res, status: number, returnTo: string, error?: string) {
    const csrf = randomBytes(24).toString("base64url");
    send(res, status, signInForm(returnTo, csrf, error), {
      "set-cookie": `${CSRF_COOKIE}=${csrf}; Path=/; HttpOnly; SameSite=Strict${secure}`,
    });
  }

  function codeForm(returnTo: string, csrf: string, challenge: string, error?: string): string {
    return page(
      "Two-step sign-in",
      `<h1>Enter your code</h1>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ""}
<form method="post" action="/signin/code">
  <input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
  <input type="hidden" name="return_to" value="${escapeHtml(returnTo)}">
  <input type="hidden" name="challenge" value="${escapeHtml(challenge)}">
  <label for="code">Code from your authenticator app, or a recovery code</label>
  <input id="code" name="code" autocomplete="one-time-code" required maxlength="32">
  <button type="submit">Continue</button>
</form>
<p><a href="/signin?return_to=${encodeURIComponent(returnTo)}">Start over</a></p>`,
    );
  }

  /** Reads a posted form and checks its CSRF token; answers the request itself when either fails. */
  async function postedForm(req: Req, res: Res): Promise<{ form: URLSearchParams; returnTo: string; csrf: string } | undefined> {
    const form = await readForm(req);
    if (form === "too_large") return void send(res, 413, page("Too large", "<h1>Request too large</h1>"));
    if (!form) return void send(res, 400, page("Bad request", "<h1>Bad request</h1><p>Send the sign-in form.</p>"));
    const returnTo = safeReturnTo(form.get("return_to"));
    const csrf = form.get("csrf") ?? "";
    if (!sameToken(csrf, cookies(req).get(CSRF_COOKIE) ?? "")) {
      return void showForm(res, 403, returnTo, "Your sign-in form expired. Please try again.");
    }
    return { form, returnTo, csrf };
  }

  /** Turns the session the service opened into a browser cookie and sends the browser on. */
  async function finish(res: Res, tokens: { accessToken: string; sessionId: string }, returnTo: string) {
    // The token was minted by this very process a moment ago: reading its subject needs no verification.
    const userId = decodeJwt(tokens.accessToken).sub ?? "";
    const value = await deps.sessions.attachCookie(tokens.sessionId, userId);
    if (!value) throw new ConnectError("session vanished", Code.Unavailable);
    res.writeHead(303, {
      location: returnTo,
      "cache-control": "no-store",
      "set-cookie": [
        `${cookie.name}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${Math.floor(cookie.maxAgeMs / 1000)}${secure}`,
        `${CSRF_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict${secure}`,
      ],
    });
    res.end();
  }

  function failed(res: Res, error: unknown, meta: RequestMeta, retry: (status: number, message: string) => void) {
    const { code, rawMessage } = ConnectError.from(error);
    if (code === Code.Unauthenticated) return retry(401, "Invalid email or password.");
    if (code === Code.InvalidArgument) return retry(400, rawMessage);
    if (code === Code.ResourceExhausted) return retry(429, "Too many attempts. Please wait and try again.");
    deps.log.error({ err: error, requestId: meta.requestId }, "hosted sign-in failed");
    return retry(503, "Sign-in is unavailable right now. Please try again.");
  }

  async function signIn(req: Req, res: Res, meta: RequestMeta) {
    const posted = await postedForm(req, res);
    if (!posted) return;
    const { form, returnTo, csrf } = posted;
    try {
      const contextValues = createContextValues().set(kRequestMeta, meta);
      const answer = await deps.auth.signIn({ email: form.get("email") ?? "", password: form.get("password") ?? "" }, { contextValues });
      if (answer.mfaRequired) return send(res, 200, codeForm(returnTo, csrf, answer.mfaChallenge));
      await finish(res, answer, returnTo);
    } catch (error) {
      failed(res, error, meta, (status, message) => showForm(res, status, returnTo, message));
    }
  }

  async function completeWithCode(req: Req, res: Res, meta: RequestMeta) {
    const posted = await postedForm(req, res);
    if (!posted) return;
    const { form, returnTo, csrf } = posted;
    const challenge = form.get("challenge") ?? "";
    try {
      const contextValues = createContextValues().set(kRequestMeta, meta);
      await finish(res, await deps.auth.completeSignIn({ challenge, code: form.get("code") ?? "" }, { contextValues }), returnTo);
    } catch (error) {
      failed(res, error, meta, (status, message) =>
        send(res, status, codeForm(returnTo, csrf, challenge, status === 401 ? "That code did not work." : message)),
      );
    }
  }

  async function signOut(req: Req, res: Res) {
    const parsed = parseSessionCookie(cookies(req).get(cookie.name) ?? "");
    const session = parsed ? await deps.sessions.findByCookie(parsed.sessionId, parsed.hash) : undefined;
    if (session) await deps.sessions.revoke(session.id, session.userId);
    res.writeHead(303, {
      location: "/signin",
      "cache-control": "no-store",
      "set-cookie": `${cookie.name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secure}`,
    });
    res.end();
  }

  return {
    /** True if it answered the request (the paths /signin, /signin/code and /signout). */
    handle(req: Req, res: Res, meta: RequestMeta): boolean {
      const url = new URL(req.url ?? "/", "http://local");
      if (url.pathname === "/signin" && req.method === "GET") {
        showForm(res, 200, safeReturnTo(url.searchParams.get("return_to")));
        return true;
      }
      if (url.pathname === "/signin" && req.method === "POST") {
        void signIn(req, res, meta);
        return true;
      }
      if (url.pathname === "/signin/code" && req.method === "POST") {
        void completeWithCode(req, res, meta);
        return true;
      }
      if (url.pathname === "/signout" && req.method === "POST") {
        signOut(req, res).catch((error: unknown) => {
          deps.log.error({ err: error }, "sign-out failed");
          send(res, 503, page("Unavailable", "<h1>Please try again</h1>"));
        });
        return true;
      }
      return false;
    },
  };
}
