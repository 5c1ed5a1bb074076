import { Code, ConnectError, createContextValues, type Client } from "@connectrpc/connect";
import type { AuthService } from "../../gen/auth/v1/auth_pb.js";
import type { Logger } from "../../platform/log.js";
import { kRequestMeta, type RequestMeta } from "../../platform/request-context.js";
import { answerSafely, newNonce, readForm, sendHtml, type Csrf, type Req, type Res } from "./forms.js";
import { escapeHtml, page } from "./html.js";

export interface LinkPagesDeps {
  auth: Client<typeof AuthService>;
  csrf: Csrf;
  log: Logger;
}

/**
 * The account-recovery pages: /forgot-password asks for a reset mail, and the
 * pages the links in mail open, /verify-email and /reset-password. Their token
 * travels in the URL fragment, which browsers never send to a server (no
 * access log or Referer ever holds it); a small nonce'd script moves it into
 * the form, and the form's POST redeems it.
 */
/** Moves a mailed link's token from the URL fragment into the form's hidden `token` input. */
export const fragmentTokenScript = (nonce: string) =>
  `<script nonce="${nonce}">document.getElementById("token").value = new URLSearchParams(location.hash.slice(1)).get("token") || "";</script>`;

export function createLinkPages(deps: LinkPagesDeps) {
  function form(res: Res, status: number, title: string, action: string, fields: string, button: string, error?: string) {
    const nonce = newNonce();
    const csrf = deps.csrf.issue();
    const html = page(
      title,
      `<h1>${escapeHtml(title)}</h1>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ""}
<form method="post" action="${action}">
  <input type="hidden" name="csrf" value="${escapeHtml(csrf.token)}">
  <input type="hidden" id="token" name="token" value="">
  ${fields}
  <button type="submit">${escapeHtml(button)}</button>
</form>
${fragmentTokenScript(nonce)}`,
    );
    sendHtml(res, status, html, { nonce, headers: { "set-cookie": csrf.setCookie } });
  }

  const verifyForm = (res: Res, status: number, error?: string) =>
    form(res, status, "Confirm your email address", "/verify-email", "", "Confirm my email address", error);
  const resetForm = (res: Res, status: number, error?: string) =>
    form(
      res,
      status,
      "Choose a new password",
      "/reset-password",
      `<label for="new_password">New password</label>
  <input id="new_password" name="new_password" type="password" autocomplete="new-password" required minlength="8" maxlength="128">`,
      "Set the new password",
      error,
    );

  function forgotForm(res: Res, status: number, error?: string) {
    const csrf = deps.csrf.issue();
    const html = page(
      "Reset your password",
      `<h1>Reset your password</h1>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ""}
<form method="post" action="/forgot-password">
  <input type="hidden" name="csrf" value="${escapeHtml(csrf.token)}">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" autocomplete="username" required maxlength="254">
  <button type="submit">Send me a reset link</button>
</form>
<p><a href="/signin">Back to sign in</a></p>`,
    );
    sendHtml(res, status, html, { headers: { "set-cookie": csrf.setCookie } });
  }

  function done(res: Res, title: string, text: string) {
    sendHtml(res, 200, page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p><p><a href="/signin">Sign in</a></p>`), {
      headers: { "set-cookie": deps.csrf.clear },
    });
  }

  /** Runs a redeeming RPC for a posted form; a refused token is shown on the form again, never a stack. */
  async function redeem(req: Req, res: Res, meta: RequestMeta, again: (status: number, error: string) => void, call: (form: URLSearchParams) => Promise<void>) {
    const form = await readForm(req);
    if (form === "too_large") return sendHtml(res, 413, page("Too large", "<h1>Request too large</h1>"));
    if (!form) return sendHtml(res, 400, page("Bad request", "<h1>Bad request</h1><p>Send the form.</p>"));
    if (!deps.csrf.accepts(req, form.get("csrf") ?? "")) return again(403, "This form expired. Open the link from the email again.");
    try {
      await call(form);
    } catch (error) {
      const { code, rawMessage } = ConnectError.from(error);
      if (code === Code.InvalidArgument || code === Code.Unauthenticated || code === Code.NotFound || code === Code.FailedPrecondition) {
        return again(400, rawMessage);
      }
      if (code === Code.ResourceExhausted) return again(429, "Too many attempts. Please wait and try again.");
      deps.log.error({ err: error, requestId: meta.requestId }, "link page failed");
      return again(503, "This is unavailable right now. Please try again.");
    }
  }

  return {
    handle(req: Req, res: Res, meta: RequestMeta): boolean {
      const path = (req.url ?? "").split("?", 1)[0];
      const contextValues = createContextValues().set(kRequestMeta, meta);
      const failed = (error: unknown) => deps.log.error({ err: error, requestId: meta.requestId }, "link page failed");
      if (path === "/forgot-password" && req.method === "GET") forgotForm(res, 200);
      else if (path === "/forgot-password" && req.method === "POST") {
        answerSafely(res, redeem(req, res, meta, (status, error) => forgotForm(res, status, error), async (form) => {
          await deps.auth.requestPasswordReset({ email: form.get("email") ?? "" }, { contextValues });
          // The same words whether or not the address has an account: no enumeration here either.
          done(res, "Check your email", "If an account uses this address, a link to reset its password is on its way.");
        }), failed);
      } else if (path === "/verify-email" && req.method === "GET") verifyForm(res, 200);
      else if (path === "/reset-password" && req.method === "GET") resetForm(res, 200);
      else if (path === "/verify-email" && req.method === "POST") {
        answerSafely(res, redeem(req, res, meta, (status, error) => verifyForm(res, status, error), async (form) => {
          await deps.auth.verifyEmail({ token: form.get("token") ?? "" }, { contextValues });
          done(res, "Email address confirmed", "Thank you: your email address is confirmed.");
        }), failed);
      } else if (path === "/reset-password" && req.method === "POST") {
        answerSafely(res, redeem(req, res, meta, (status, error) => resetForm(res, status, error), async (form) => {
          await deps.auth.resetPassword({ token: form.get("token") ?? "", newPassword: form.get("new_password") ?? "" }, { contextValues });
          done(res, "Password changed", "Your password is changed and every session was signed out. Sign in with the new password.");
        }), failed);
      } else return false;
      return true;
    },
  };
}
