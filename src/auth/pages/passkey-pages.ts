import { Code, ConnectError, createContextValues, type Client } from "@connectrpc/connect";
import type { PasskeyService } from "../../gen/auth/v1/passkeys_pb.js";
import type { Logger } from "../../platform/log.js";
import { kRequestMeta, type RequestMeta } from "../../platform/request-context.js";
import { sentence, type AccountRoute } from "./account-kit.js";
import { timeOf } from "./account-pages.js";
import { alertBox, csrfInput, field } from "./form-fields.js";
import { answerSafely, newNonce, readForm, sendHtml, type Csrf, type Req, type Res } from "./forms.js";
import { escapeHtml, page } from "./html.js";
import { safeReturnTo } from "./return-to.js";

/**
 * A form that runs a WebAuthn ceremony: /assets/passkeys.js reads its options, asks the
 * authenticator, puts the result in "response" and posts it. Without JavaScript it says so:
 * WebAuthn is the one thing these pages cannot do without it.
 */
export function ceremonyForm(o: { action: string; kind: "register" | "authenticate"; optionsJson: string; csrf: string; hidden: Record<string, string>; button: string; nonce: string }): string {
  const hidden = Object.entries(o.hidden)
    .map(([name, value]) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`)
    .join("\n  ");
  return `<form method="post" action="${o.action}" data-webauthn="${o.kind}" data-options="${escapeHtml(o.optionsJson)}">
  ${csrfInput(o.csrf)}
  ${hidden}
  <input type="hidden" name="response" value="">
  <button type="submit">${escapeHtml(o.button)}</button>
  <p data-webauthn-status role="status" aria-live="polite"></p>
</form>
<noscript><p class="error">Passkeys need JavaScript in this browser.</p></noscript>
<script nonce="${o.nonce}" src="/assets/webauthn-browser.js"></script>
<script nonce="${o.nonce}" src="/assets/passkeys.js"></script>`;
}

/** /account/passkeys: the account's passkeys, adding one (a WebAuthn registration) and removing one. */
export function passkeyAccountPage(deps: { passkeys: Client<typeof PasskeyService> }): AccountRoute {
  const { passkeys } = deps;
  return {
    path: "/account/passkeys",
    nav: "/account/passkeys",
    notices: { added: "The passkey is added: you can sign in with it.", removed: "The passkey is removed." },
    async render(a, view) {
      const list = (await passkeys.listPasskeys({}, a.call)).passkeys;
      a.show(view, "Passkeys", (csrf) => {
        const rows = list
          .map(
            (p) => `<tr>
  <td>${escapeHtml(p.name)}</td><td>${timeOf(p.createdAt)}</td><td>${timeOf(p.lastUsedAt)}</td><td>${p.backedUp ? "Synced" : "This device only"}</td>
  <td><form method="post" action="/account/passkeys/remove" class="inline">${csrfInput(csrf)}<input type="hidden" name="passkey_id" value="${escapeHtml(p.passkeyId)}"><button type="submit" aria-label="Remove passkey ${escapeHtml(p.name)}">Remove</button></form></td>
</tr>`,
          )
          .join("\n");
        return `<p>A passkey signs you in with your device's screen lock or a security key instead of a password, and counts as two-step sign-in.</p>
<table>
  <caption class="visually-hidden">Your passkeys</caption>
  <thead><tr><th scope="col">Name</th><th scope="col">Added</th><th scope="col">Last used</th><th scope="col">Kind</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
  <tbody>${rows || '<tr><td colspan="5">No passkeys yet.</td></tr>'}</tbody>
</table>
<h2>Add a passkey</h2>
<form method="post" action="/account/passkeys/begin">
  ${csrfInput(csrf)}
  ${field({ name: "name", label: "Name for the passkey", required: false, maxlength: 64, hint: "For example “Work laptop”.", error: view.errors?.name })}
  ${field({ name: "current_password", label: "Current password", type: "password", autocomplete: "current-password", required: false, maxlength: 128, hint: "Needed unless you signed in a few minutes ago (removing one needs a recent sign-in too).", error: view.errors?.current_password })}
  <button type="submit">Add a passkey</button>
</form>`;
      });
    },
    actions: {
      async "/account/passkeys/begin"(a) {
        const { optionsJson } = await passkeys.beginPasskeyRegistration({ currentPassword: a.form.get("current_password") ?? "" }, a.call);
        const nonce = newNonce();
        a.show({ status: 200 }, "Create your passkey", (csrf) => `<p>Your browser will ask you to create the passkey, with your screen lock or a security key.</p>
${ceremonyForm({ action: "/account/passkeys/finish", kind: "register", optionsJson, csrf, hidden: { name: a.form.get("name") ?? "" }, button: "Create the passkey", nonce })}`, nonce);
      },
      async "/account/passkeys/finish"(a) {
        await passkeys.finishPasskeyRegistration({ responseJson: a.form.get("response") ?? "", name: a.form.get("name") ?? "" }, a.call);
        a.done("added");
      },
      async "/account/passkeys/remove"(a) {
        await passkeys.deletePasskey({ passkeyId: a.form.get("passkey_id") ?? "", currentPassword: a.form.get("current_password") ?? "" }, a.call);
        a.done("removed");
      },
    },
  };
}

export interface PasskeySignInDeps {
  passkeys: Client<typeof PasskeyService>;
  csrf: Csrf;
  log: Logger;
  /** Turns the opened session into the browser's cookie and sends it on (the hosted sign-in page's last step). */
  finish(res: Res, tokens: { accessToken: string; sessionId: string }, returnTo: string): Promise<void>;
}

/**
 * /signin/passkey: a passkey alone (GET: discoverable credential, no email typed), or the second
 * step of a password sign-in (POST from the code page with its challenge). Posting the
 * authenticator's answer opens the session.
 */
export function createPasskeySignInPage(deps: PasskeySignInDeps) {
  const { passkeys } = deps;

  function ceremony(res: Res, status: number, optionsJson: string, returnTo: string, challenge: string, error?: string) {
    const nonce = newNonce();
    const csrf = deps.csrf.issue();
    const html = page(
      "Sign in with a passkey",
      `<h1>Sign in with a passkey</h1>
${alertBox(error)}
${ceremonyForm({ action: "/signin/passkey", kind: "authenticate", optionsJson, csrf: csrf.token, hidden: { return_to: returnTo, challenge }, button: "Use my passkey", nonce })}
<p><a href="/signin?return_to=${encodeURIComponent(returnTo)}">Sign in with your password instead</a></p>`,
    );
    sendHtml(res, status, html, { nonce, headers: { "set-cookie": csrf.setCookie } });
  }

  function refused(res: Res, status: number, returnTo: string, message: string) {
    sendHtml(res, status, page("Sign in with a passkey", `<h1>Sign in with a passkey</h1>${alertBox(message)}<p><a href="/signin?return_to=${encodeURIComponent(returnTo)}">Back to sign in</a></p>`));
  }

  async function begin(res: Res, meta: RequestMeta, returnTo: string, challenge: string, error?: string) {
    const contextValues = createContextValues().set(kRequestMeta, meta);
    const { optionsJson } = await passkeys.beginPasskeySignIn({ mfaChallenge: challenge }, { contextValues });
    ceremony(res, error ? 401 : 200, optionsJson, returnTo, challenge, error);
  }

  function failed(res: Res, meta: RequestMeta, returnTo: string, error: unknown) {
    const { code, rawMessage } = ConnectError.from(error);
    if (code === Code.InvalidArgument || code === Code.FailedPrecondition) return refused(res, 400, returnTo, sentence(rawMessage));
    if (code === Code.Unauthenticated) return refused(res, 401, returnTo, sentence(rawMessage));
    if (code === Code.ResourceExhausted) return refused(res, 429, returnTo, "Too many attempts. Please wait and try again.");
    deps.log.error({ err: error, requestId: meta.requestId }, "passkey sign-in failed");
    return refused(res, 503, returnTo, "Sign-in is unavailable right now. Please try again.");
  }

  async function post(req: Req, res: Res, meta: RequestMeta) {
    const form = await readForm(req);
    if (form === "too_large") return sendHtml(res, 413, page("Too large", "<h1>Request too large</h1>"));
    if (!form) return sendHtml(res, 400, page("Bad request", "<h1>Bad request</h1><p>Send the form.</p>"));
    const returnTo = safeReturnTo(form.get("return_to"));
    const challenge = form.get("challenge") ?? "";
    if (!deps.csrf.accepts(req, form.get("csrf") ?? "")) return refused(res, 403, returnTo, "This form expired. Please try again.");
    const response = form.get("response") ?? "";
    try {
      if (response === "") return await begin(res, meta, returnTo, challenge);
      const contextValues = createContextValues().set(kRequestMeta, meta);
      await deps.finish(res, await passkeys.completePasskeySignIn({ responseJson: response, mfaChallenge: challenge }, { contextValues }), returnTo);
    } catch (error) {
      failed(res, meta, returnTo, error);
    }
  }

  return {
    handle(req: Req, res: Res, meta: RequestMeta): boolean {
      const url = new URL(req.url ?? "/", "http://local");
      if (url.pathname !== "/signin/passkey") return false;
      const returnTo = safeReturnTo(url.searchParams.get("return_to"));
      const onError = (error: unknown) => deps.log.error({ err: error, requestId: meta.requestId }, "passkey sign-in failed");
      if (req.method === "GET") answerSafely(res, begin(res, meta, returnTo, "").catch((error: unknown) => failed(res, meta, returnTo, error)), onError);
      else if (req.method === "POST") answerSafely(res, post(req, res, meta), onError);
      else return false;
      return true;
    },
  };
}
