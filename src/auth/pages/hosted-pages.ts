import { Code, ConnectError, createContextValues, type Client } from "@connectrpc/connect";
import { decodeJwt } from "jose";
import type { AuthService } from "../../gen/auth/v1/auth_pb.js";
import type { PasskeyService } from "../../gen/auth/v1/passkeys_pb.js";
import type { SocialService } from "../../gen/auth/v1/social_pb.js";
import type { Logger } from "../../platform/log.js";
import { OAUTH_PREFIX } from "../oauth/openid-provider.js";
import { kRequestMeta, type RequestMeta } from "../../platform/request-context.js";
import type { SessionStore } from "../sessions/session-store.js";
import type { AccessTokens } from "../tokens/access-tokens.js";
import { parseSessionSecret } from "../../contract/session-secret.js";
import { answerSafely, cookieOf, createCsrf, readForm, sendHtml, type Req, type Res } from "./forms.js";
import { escapeHtml, page } from "./html.js";
import { accountPages } from "./account-pages.js";
import { createAccountKit } from "./account-kit.js";
import { createLinkPages } from "./link-pages.js";
import { createPasskeySignInPage, passkeyAccountPage } from "./passkey-pages.js";
import { sessionPages } from "./session-pages.js";
import { createSocialSignInPages, socialAccountPage, socialButtons, type SocialButton } from "./social-pages.js";
import { createSignUpPage } from "./signup-page.js";
import { createStaticAssets } from "./static-assets.js";
import { twoStepPage } from "./two-step-page.js";
import { safeReturnTo } from "./return-to.js";

export interface SessionCookieConfig {
  /** SESSION_COOKIE_NAME (shared with the authz server), default auth_session. */
  name: string;
  /** SESSION_COOKIE_SECURE, default true: the cookie only travels over HTTPS (and localhost). */
  secure: boolean;
  /** The session's absolute lifetime; the cookie expires with it. */
  maxAgeMs: number;
}

export interface FormProtectionConfig {
  /** The CSRF (pre-session) cookie: auth_csrf, `__Host-` prefixed on an HTTPS deployment. */
  csrfCookieName: string;
  /** The social sign-in flow cookie: auth_social, prefixed alike. */
  socialCookieName: string;
  /** 32 bytes binding each form's token to its pre-session (derived from SIGNING_KEY_ENCRYPTION_KEY). */
  csrfKey: Buffer;
  /** PUBLIC_BASE_URL's origin: the only foreign-looking Origin a form post may carry. */
  publicOrigin: string;
}

export interface HostedPagesDeps {
  /** The auth service itself, in process: the page gets every rule of SignIn (limits, lockout, audit). */
  auth: Client<typeof AuthService>;
  passkeys: Client<typeof PasskeyService>;
  social: Client<typeof SocialService>;
  /** SOCIAL_PROVIDERS: a "Continue with ..." button each. */
  socialProviders: readonly SocialButton[];
  sessions: SessionStore;
  /** Mints the access token an account page presents for the cookie's session, so the RPCs apply their rules. */
  tokens: Pick<AccessTokens, "issue">;
  /** Whether the user has TOTP on (the two-step page shows enrolment or removal). */
  totpEnabled(userId: string): Promise<boolean>;
  cookie: SessionCookieConfig;
  forms: FormProtectionConfig;
  log: Logger;
}

/**
 * The hosted sign-in page: plain server-rendered HTML, a CSRF double-submit
 * token, and on success an HttpOnly SameSite cookie and a redirect back to
 * the page the browser wanted.
 */
export function createHostedPages(deps: HostedPagesDeps) {
  const { cookie } = deps;
  const secure = cookie.secure ? "; Secure" : "";

  const csrfTokens = createCsrf({
    cookieName: deps.forms.csrfCookieName,
    secure: cookie.secure,
    key: deps.forms.csrfKey,
    publicOrigin: deps.forms.publicOrigin,
  });
  const send = (res: Res, status: number, html: string, headers: Record<string, string | string[]> = {}) => sendHtml(res, status, html, { headers });
  const links = createLinkPages({ auth: deps.auth, csrf: csrfTokens, log: deps.log });
  const failedPage = (meta: RequestMeta) => (error: unknown) => deps.log.error({ err: error, requestId: meta.requestId }, "hosted page failed");

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
</form>
<p><a href="/signin/passkey?return_to=${encodeURIComponent(returnTo)}">Sign in with a passkey</a></p>
${socialButtons(deps.socialProviders, returnTo)}
<p><a href="/forgot-password">Forgot your password?</a></p>
<p><a href="/signup">Create an account</a></p>`,
    );
  }

  function showForm(res: Res, status: number, returnTo: string, error?: string) {
    const csrf = csrfTokens.issue();
    send(res, status, signInForm(returnTo, csrf.token, error), { "set-cookie": csrf.setCookie });
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
<form method="post" action="/signin/passkey">
  <input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
  <input type="hidden" name="return_to" value="${escapeHtml(returnTo)}">
  <input type="hidden" name="challenge" value="${escapeHtml(challenge)}">
  <button type="submit">Use a passkey instead</button>
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
    if (!csrfTokens.accepts(req, csrf)) {
      return void showForm(res, 403, returnTo, "Your sign-in form expired. Please try again.");
    }
    return { form, returnTo, csrf };
  }

  /** Turns the session the service opened into a browser cookie and sends the browser on. */
  async function finish(res: Res, tokens: { accessToken: string; sessionId: string }, returnTo: string, alsoClear: string[] = []) {
    // The token was minted by this very process a moment ago: reading its subject needs no verification.
    const userId = decodeJwt(tokens.accessToken).sub ?? "";
    const value = await deps.sessions.attachCookie(tokens.sessionId, userId);
    if (!value) throw new ConnectError("session vanished", Code.Unavailable);
    const setCookie = [`${cookie.name}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${Math.floor(cookie.maxAgeMs / 1000)}${secure}`, csrfTokens.clear, ...alsoClear];
    if (returnTo.startsWith(OAUTH_PREFIX)) {
      // An OAuth interaction may redirect straight on to the client's redirect_uri (consent remembered).
      // Chromium holds a form's whole redirect chain to the CSP form-action of the page that posted it
      // ('self' here), so it would stop there: this same-origin page ends the chain, and its Refresh
      // is a navigation of its own.
      const html = page("Signed in", `<h1>Signed in</h1><p><a href="${escapeHtml(returnTo)}">Continue</a></p>`);
      return sendHtml(res, 200, html, { headers: { refresh: `0; url=${returnTo}`, "set-cookie": setCookie } });
    }
    res.writeHead(303, { location: returnTo, "cache-control": "no-store", "set-cookie": setCookie });
    res.end();
  }

  const signUp = createSignUpPage({ auth: deps.auth, csrf: csrfTokens, log: deps.log });
  const passkeySignIn = createPasskeySignInPage({ passkeys: deps.passkeys, csrf: csrfTokens, log: deps.log, finish });
  const socialSignIn = createSocialSignInPages({
    social: deps.social,
    providers: deps.socialProviders,
    csrf: csrfTokens,
    flowCookie: { name: deps.forms.socialCookieName, secure: cookie.secure },
    log: deps.log,
    finish,
    secondStep(res, returnTo, challenge, alsoClear) {
      const csrf = csrfTokens.issue();
      send(res, 200, codeForm(returnTo, csrf.token, challenge), { "set-cookie": [csrf.setCookie, ...alsoClear] });
    },
  });
  const account = createAccountKit({ sessions: deps.sessions, tokens: deps.tokens, cookieName: cookie.name, csrf: csrfTokens, log: deps.log }, [
    ...accountPages({ auth: deps.auth }),
    ...sessionPages({ auth: deps.auth }),
    twoStepPage({ auth: deps.auth, totpEnabled: deps.totpEnabled }),
    passkeyAccountPage({ passkeys: deps.passkeys }),
    socialAccountPage({ social: deps.social, providers: deps.socialProviders }),
  ]);
  const assets = createStaticAssets();

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

  function signOutForm(res: Res, status: number, error?: string) {
    const csrf = csrfTokens.issue();
    const html = page(
      "Sign out",
      `<h1>Sign out</h1>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ""}
<form method="post" action="/signout">
  <input type="hidden" name="csrf" value="${escapeHtml(csrf.token)}">
  <button type="submit">Sign out</button>
</form>`,
    );
    send(res, status, html, { "set-cookie": csrf.setCookie });
  }

  /** Ends the cookie's session; only from our own sign-out form (a cross-site post could sign anyone out). */
  async function signOut(req: Req, res: Res) {
    const form = await readForm(req);
    if (form === "too_large") return void send(res, 413, page("Too large", "<h1>Request too large</h1>"));
    if (!form || !csrfTokens.accepts(req, form.get("csrf") ?? "")) return signOutForm(res, 403, "Please confirm that you want to sign out.");
    const parsed = parseSessionSecret(cookieOf(req, cookie.name) ?? "");
    const session = parsed ? await deps.sessions.findByCookie(parsed.sessionId, parsed.hash) : undefined;
    if (session) await deps.sessions.revoke(session.id, session.userId);
    res.writeHead(303, {
      location: "/signin",
      "cache-control": "no-store",
      "set-cookie": [`${cookie.name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secure}`, csrfTokens.clear],
    });
    res.end();
  }

  return {
    /** True if it answered the request (/signin..., /signout, /signup, /account..., /assets/..., and the pages mail links open). */
    handle(req: Req, res: Res, meta: RequestMeta): boolean {
      if (links.handle(req, res, meta) || signUp.handle(req, res, meta) || passkeySignIn.handle(req, res, meta) || socialSignIn.handle(req, res, meta)) return true;
      if (account.handle(req, res, meta) || assets.handle(req, res)) return true;
      const url = new URL(req.url ?? "/", "http://local");
      if (url.pathname === "/signin" && req.method === "GET") {
        showForm(res, 200, safeReturnTo(url.searchParams.get("return_to")));
        return true;
      }
      if (url.pathname === "/signin" && req.method === "POST") {
        answerSafely(res, signIn(req, res, meta), failedPage(meta));
        return true;
      }
      if (url.pathname === "/signin/code" && req.method === "POST") {
        answerSafely(res, completeWithCode(req, res, meta), failedPage(meta));
        return true;
      }
      if (url.pathname === "/signout" && req.method === "GET") {
        signOutForm(res, 200);
        return true;
      }
      if (url.pathname === "/signout" && req.method === "POST") {
        answerSafely(res, signOut(req, res), failedPage(meta));
        return true;
      }
      return false;
    },
  };
}
