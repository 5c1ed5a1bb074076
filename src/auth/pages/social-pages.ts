import { Code, ConnectError, createContextValues, type Client } from "@connectrpc/connect";
import type { SocialService } from "../../gen/auth/v1/social_pb.js";
import { INVALID_CREDENTIALS } from "../../platform/errors.js";
import type { Logger } from "../../platform/log.js";
import { kRequestMeta, type RequestMeta } from "../../platform/request-context.js";
import { NOT_THIS_SIGN_IN } from "../social/social-service.js";
import { refusalOf, sentence, type AccountRoute } from "./account-kit.js";
import { timeOf } from "./account-pages.js";
import { alertBox, csrfInput, field } from "./form-fields.js";
import { answerSafely, cookieOf, newNonce, readForm, sendHtml, type Csrf, type Req, type Res } from "./forms.js";
import { escapeHtml, page } from "./html.js";
import { fragmentTokenScript } from "./link-pages.js";
import { safeReturnTo } from "./return-to.js";

export interface SocialButton {
  id: string;
  label: string;
}

/** The "Continue with ..." links of the sign-in page, one per configured provider. */
export const socialButtons = (providers: readonly SocialButton[], returnTo: string) =>
  providers.map((p) => `<p><a class="social" href="/signin/social/${p.id}?return_to=${encodeURIComponent(returnTo)}">Continue with ${escapeHtml(p.label)}</a></p>`).join("\n");

type Tokens = { accessToken: string; sessionId: string };

export interface SocialSignInDeps {
  social: Client<typeof SocialService>;
  providers: readonly SocialButton[];
  csrf: Csrf;
  /** The flow cookie: binds a provider's callback to the browser that started it (auth_social, `__Host-` on HTTPS). */
  flowCookie: { name: string; secure: boolean };
  log: Logger;
  /** Turns the opened session into the browser's cookie and sends it on, clearing `alsoClear` too. */
  finish(res: Res, tokens: Tokens, returnTo: string, alsoClear: string[]): Promise<void>;
  /** The password sign-in's second step, for an account with a second factor. */
  secondStep(res: Res, returnTo: string, challenge: string, alsoClear: string[]): void;
}

const NOT_THIS_BROWSER = "Open the link in the browser where you started signing in: it works only there. Or start again.";
const ROUTE = /^\/signin\/social\/([a-z][a-z0-9-]{0,31})(\/callback)?$/;
// The flow lives 10 minutes server-side; the cookie no longer.
const FLOW_SECONDS = 600;

/**
 * /signin/social/<provider>: sends the browser to the provider with a fresh flow (its handle in an
 * HttpOnly, SameSite=Lax cookie: the provider's redirect back is a top-level GET, which Lax lets through);
 * /signin/social/<provider>/callback finishes it. When an existing account has the provider's verified
 * address, the flow cookie holds the link ticket instead: /signin/social/link proves the account's
 * password, or /signin/social/link/mail mails it a link whose page, /signin/social/link/confirm,
 * links only in the browser holding the ticket. Whoever got the mail cannot finish someone else's
 * sign-in, so a link mailed to the owner for a stranger's provider identity links nothing.
 */
export function createSocialSignInPages(deps: SocialSignInDeps) {
  const { social } = deps;
  const labels = new Map(deps.providers.map((p) => [p.id, p.label]));
  const flags = `Path=/; HttpOnly; SameSite=Lax${deps.flowCookie.secure ? "; Secure" : ""}`;
  const clearFlow = `${deps.flowCookie.name}=; Max-Age=0; ${flags}`;
  const call = (meta: RequestMeta) => ({ contextValues: createContextValues().set(kRequestMeta, meta) });

  function refused(res: Res, status: number, returnTo: string, message: string, keepFlow = false) {
    const html = page("Sign in", `<h1>Sign in</h1>${alertBox(message)}<p><a href="/signin?return_to=${encodeURIComponent(returnTo)}">Back to sign in</a></p>`);
    sendHtml(res, status, html, keepFlow ? {} : { headers: { "set-cookie": clearFlow } });
  }

  function failed(res: Res, meta: RequestMeta, returnTo: string, error: unknown) {
    const { code, rawMessage } = ConnectError.from(error);
    const refusal = refusalOf(error, []);
    // Someone else's answer (a forged or stray callback) spent nothing: the browser's own answer may still come.
    if (refusal) return refused(res, refusal.status, returnTo, refusal.message, code === Code.InvalidArgument && rawMessage === NOT_THIS_SIGN_IN);
    deps.log.error({ err: error, requestId: meta.requestId }, "social sign-in failed");
    // UNAVAILABLE carries words written for the client (the provider cannot be reached); anything else says nothing.
    return refused(res, 503, returnTo, code === Code.Unavailable ? sentence(rawMessage) : "Sign-in is unavailable right now. Please try again.");
  }

  const holdTicket = (ticket: string) => `${deps.flowCookie.name}=${ticket}; Max-Age=${FLOW_SECONDS}; ${flags}`;
  const hidden = (name: string, value: string) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;

  /** The proof page of a link: the account's password, or a mailed link. `ticket` (first showing only) goes into the flow cookie. */
  function linkForm(res: Res, status: number, o: { email: string; provider: string; returnTo: string; error?: string }, ticket?: string) {
    const csrf = deps.csrf.issue();
    const label = labels.get(o.provider) ?? o.provider;
    const context = `${csrfInput(csrf.token)}
  ${hidden("provider", o.provider)}
  ${hidden("email", o.email)}
  ${hidden("return_to", o.returnTo)}`;
    const html = page(
      "Link your sign-in",
      `<h1>Link ${escapeHtml(label)} to your account</h1>
${alertBox(o.error)}
<p>An account with the address <strong>${escapeHtml(o.email)}</strong> already exists. Prove it is yours to sign in to it with ${escapeHtml(label)} from now on. Nothing is linked until you do.</p>
<form method="post" action="/signin/social/link">
  ${context}
  ${field({ name: "password", label: "Its password", type: "password", autocomplete: "current-password", maxlength: 128, error: o.error })}
  <button type="submit">Link and sign in</button>
</form>
<form method="post" action="/signin/social/link/mail">
  ${context}
  <button type="submit">Email me a link instead</button>
</form>
<p><a href="/signin?return_to=${encodeURIComponent(o.returnTo)}">Cancel</a></p>`,
    );
    sendHtml(res, status, html, { headers: { "set-cookie": ticket ? [csrf.setCookie, holdTicket(ticket)] : csrf.setCookie } });
  }

  function mailSent(res: Res, email: string) {
    const html = page(
      "Check your email",
      `<h1>Check your email</h1>
<p>A link is on its way to <strong>${escapeHtml(email)}</strong>. Open it <strong>in this browser</strong> within ${FLOW_SECONDS / 60} minutes: it links nowhere else.</p>`,
    );
    sendHtml(res, 200, html);
  }

  function confirmForm(res: Res, status: number, error?: string) {
    const nonce = newNonce();
    const csrf = deps.csrf.issue();
    const html = page(
      "Link your sign-in",
      `<h1>Link your sign-in</h1>
${alertBox(error)}
<form method="post" action="/signin/social/link/confirm">
  ${csrfInput(csrf.token)}
  <input type="hidden" id="token" name="token" value="">
  <button type="submit">Link and sign in</button>
</form>
${fragmentTokenScript(nonce)}`,
    );
    sendHtml(res, status, html, { nonce, headers: { "set-cookie": csrf.setCookie } });
  }

  async function begin(res: Res, meta: RequestMeta, provider: string, returnTo: string) {
    const { authorizationUrl, flowId } = await social.beginSocialSignIn({ provider, returnTo }, call(meta));
    res.writeHead(303, { location: authorizationUrl, "cache-control": "no-store", "set-cookie": `${deps.flowCookie.name}=${flowId}; Max-Age=${FLOW_SECONDS}; ${flags}` });
    res.end();
  }

  async function callback(req: Req, res: Res, meta: RequestMeta, provider: string, url: URL) {
    const flowId = cookieOf(req, deps.flowCookie.name);
    if (!flowId) return refused(res, 400, "/", "This sign-in was not started in this browser, or it expired. Please start again.");
    const answer = await social.completeSocialSignIn({ provider, flowId, callbackQuery: url.search.slice(1) }, call(meta));
    const returnTo = safeReturnTo(answer.returnTo);
    if (answer.linkRequired) return linkForm(res, 200, { email: answer.email, provider, returnTo }, answer.linkTicket);
    if (answer.mfaRequired) return deps.secondStep(res, returnTo, answer.mfaChallenge, [clearFlow]);
    await deps.finish(res, answer, returnTo, [clearFlow]);
  }

  /** A posted form of the link pages: undefined when already answered. */
  async function linkPost(req: Req, res: Res): Promise<URLSearchParams | undefined> {
    const form = await readForm(req);
    if (form === "too_large") return void sendHtml(res, 413, page("Too large", "<h1>Request too large</h1>"));
    if (!form) return void sendHtml(res, 400, page("Bad request", "<h1>Bad request</h1><p>Send the form.</p>"));
    return form;
  }
  const EXPIRED_FORM = "This form expired. Please try again.";

  async function signedIn(res: Res, returnTo: string, answer: Tokens & { mfaRequired: boolean; mfaChallenge: string }) {
    if (answer.mfaRequired) return deps.secondStep(res, returnTo, answer.mfaChallenge, [clearFlow]);
    await deps.finish(res, answer, returnTo, [clearFlow]);
  }

  async function link(req: Req, res: Res, meta: RequestMeta, byMail: boolean) {
    const form = await linkPost(req, res);
    if (!form) return;
    const again = { email: form.get("email") ?? "", provider: form.get("provider") ?? "", returnTo: safeReturnTo(form.get("return_to")) };
    if (!deps.csrf.accepts(req, form.get("csrf") ?? "")) return linkForm(res, 403, { ...again, error: EXPIRED_FORM });
    const linkTicket = cookieOf(req, deps.flowCookie.name) ?? "";
    try {
      if (byMail) {
        await social.sendSocialLinkMail({ linkTicket }, call(meta));
        return mailSent(res, again.email);
      }
      const answer = await social.linkSocialIdentity({ linkTicket, password: form.get("password") ?? "" }, call(meta));
      await signedIn(res, again.returnTo, answer);
    } catch (error) {
      const { code, rawMessage } = ConnectError.from(error);
      // A wrong password may be typed again; an expired ticket or any other refusal ends the link.
      if (code === Code.Unauthenticated && rawMessage === INVALID_CREDENTIALS) {
        return linkForm(res, 401, { ...again, error: "That password is not right." });
      }
      failed(res, meta, again.returnTo, error);
    }
  }

  async function confirm(req: Req, res: Res, meta: RequestMeta) {
    const form = await linkPost(req, res);
    if (!form) return;
    if (!deps.csrf.accepts(req, form.get("csrf") ?? "")) return confirmForm(res, 403, EXPIRED_FORM);
    const linkTicket = cookieOf(req, deps.flowCookie.name);
    if (!linkTicket) return refused(res, 400, "/", NOT_THIS_BROWSER);
    try {
      const answer = await social.linkSocialIdentity({ linkTicket, mailToken: form.get("token") ?? "" }, call(meta));
      await signedIn(res, safeReturnTo(answer.returnTo), answer);
    } catch (error) {
      // A link another mail replaced: the newer one still works with this browser's ticket, which stays.
      const refusal = ConnectError.from(error).code === Code.InvalidArgument ? refusalOf(error, []) : undefined;
      if (refusal) return confirmForm(res, refusal.status, refusal.message);
      failed(res, meta, "/", error);
    }
  }

  return {
    handle(req: Req, res: Res, meta: RequestMeta): boolean {
      const url = new URL(req.url ?? "/", "http://local");
      const onError = (error: unknown) => deps.log.error({ err: error, requestId: meta.requestId }, "social sign-in failed");
      if (url.pathname === "/signin/social/link/confirm" && req.method === "GET") {
        // Without the ticket this browser cannot finish the link: say so before the form is filled.
        if (!cookieOf(req, deps.flowCookie.name)) refused(res, 400, "/", NOT_THIS_BROWSER);
        else confirmForm(res, 200);
        return true;
      }
      const posts: Record<string, (req: Req, res: Res, meta: RequestMeta) => Promise<void>> = {
        "/signin/social/link": (q, s, m) => link(q, s, m, false),
        "/signin/social/link/mail": (q, s, m) => link(q, s, m, true),
        "/signin/social/link/confirm": confirm,
      };
      const post = posts[url.pathname];
      if (post && req.method === "POST") {
        answerSafely(res, post(req, res, meta), onError);
        return true;
      }
      if (!url.pathname.startsWith("/signin/social/")) return false;
      const match = ROUTE.exec(url.pathname);
      const provider = match?.[1];
      if (req.method !== "GET" || !provider || !labels.has(provider)) {
        sendHtml(res, 404, page("Not found", `<h1>No such sign-in</h1><p><a href="/signin">Back to sign in</a></p>`));
        return true;
      }
      const returnTo = safeReturnTo(url.searchParams.get("return_to"));
      const work = match[2] ? callback(req, res, meta, provider, url) : begin(res, meta, provider, returnTo);
      answerSafely(res, work.catch((error: unknown) => failed(res, meta, returnTo, error)), onError);
      return true;
    },
  };
}

/** /account/identities: the providers the account signs in with, and removing one (a recent sign-in, never the last way in). */
export function socialAccountPage(deps: { social: Client<typeof SocialService>; providers: readonly SocialButton[] }): AccountRoute {
  const labels = new Map(deps.providers.map((p) => [p.id, p.label]));
  return {
    path: "/account/identities",
    nav: "/account/identities",
    notices: { removed: "The sign-in is unlinked." },
    async render(a, view) {
      const { identities } = await deps.social.listSocialIdentities({}, a.call);
      a.show(view, "Linked sign-ins", (csrf) => {
        const rows = identities
          .map((i) => {
            const label = escapeHtml(labels.get(i.provider) ?? i.provider);
            return `<tr>
  <td>${label}</td><td>${escapeHtml(i.email)}</td><td>${timeOf(i.linkedAt)}</td><td>${timeOf(i.lastUsedAt)}</td>
  <td><form method="post" action="/account/identities/remove" class="inline">${csrfInput(csrf)}<input type="hidden" name="identity_id" value="${escapeHtml(i.identityId)}"><button type="submit" aria-label="Unlink ${label}">Unlink</button></form></td>
</tr>`;
          })
          .join("\n");
        return `<p>You can sign in with these accounts at other providers.</p>
<table>
  <caption class="visually-hidden">Linked sign-ins</caption>
  <thead><tr><th scope="col">Provider</th><th scope="col">Email</th><th scope="col">Linked</th><th scope="col">Last used</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
  <tbody>${rows || '<tr><td colspan="5">No linked sign-ins.</td></tr>'}</tbody>
</table>
<p>Unlinking needs a recent sign-in: sign in again first if it was a while ago.</p>`;
      });
    },
    actions: {
      async "/account/identities/remove"(a) {
        await deps.social.unlinkSocialIdentity({ identityId: a.form.get("identity_id") ?? "", currentPassword: a.form.get("current_password") ?? "" }, a.call);
        a.done("removed");
      },
    },
  };
}
