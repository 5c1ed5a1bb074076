import { createContextValues, type Client } from "@connectrpc/connect";
import type { AuthService } from "../../gen/auth/v1/auth_pb.js";
import type { Logger } from "../../platform/log.js";
import { kRequestMeta, type RequestMeta } from "../../platform/request-context.js";
import { refusalOf } from "./account-kit.js";
import { alertBox, csrfInput, field } from "./form-fields.js";
import { answerSafely, readForm, sendHtml, type Csrf, type Req, type Res } from "./forms.js";
import { escapeHtml, page } from "./html.js";

export interface SignUpPageDeps {
  auth: Client<typeof AuthService>;
  csrf: Csrf;
  log: Logger;
}

/** /signup: the SignUp RPC as a form, with its answer: the same whether or not the address already has an account. */
export function createSignUpPage(deps: SignUpPageDeps) {
  function form(res: Res, status: number, email: string, error?: { message: string; field?: string }) {
    const csrf = deps.csrf.issue();
    const errors = error?.field ? { [error.field]: error.message } : {};
    const html = page(
      "Create an account",
      `<h1>Create an account</h1>
${alertBox(error?.message)}
<form method="post" action="/signup">
  ${csrfInput(csrf.token)}
  ${field({ name: "email", label: "Email", type: "email", autocomplete: "email", maxlength: 254, value: email, error: errors.email })}
  ${field({ name: "password", label: "Password", type: "password", autocomplete: "new-password", minlength: 8, maxlength: 128, hint: "8 to 128 characters; common passwords are refused.", error: errors.password })}
  <button type="submit">Create account</button>
</form>
<p>Already have an account? <a href="/signin">Sign in</a></p>`,
    );
    sendHtml(res, status, html, { headers: { "set-cookie": csrf.setCookie } });
  }

  async function post(req: Req, res: Res, meta: RequestMeta) {
    const posted = await readForm(req);
    if (posted === "too_large") return sendHtml(res, 413, page("Too large", "<h1>Request too large</h1>"));
    if (!posted) return sendHtml(res, 400, page("Bad request", "<h1>Bad request</h1><p>Send the sign-up form.</p>"));
    const email = (posted.get("email") ?? "").slice(0, 254);
    if (!deps.csrf.accepts(req, posted.get("csrf") ?? "")) return form(res, 403, email, { message: "This form expired. Please try again." });
    try {
      await deps.auth.signUp({ email: posted.get("email") ?? "", password: posted.get("password") ?? "" }, { contextValues: createContextValues().set(kRequestMeta, meta) });
    } catch (error) {
      const refusal = refusalOf(error, ["email", "password"]);
      if (refusal) return form(res, refusal.status, email, refusal);
      deps.log.error({ err: error, requestId: meta.requestId }, "sign-up page failed");
      return form(res, 503, email, { message: "Sign-up is unavailable right now. Please try again." });
    }
    // The same words whether or not the address was taken: its owner gets a mail either way.
    sendHtml(res, 200, page("Check your email", `<h1>Check your email</h1>
<p role="status">We sent a message to ${escapeHtml(email)}. Open the link in it to confirm your address, then sign in.</p>
<p><a href="/signin">Sign in</a></p>`), { headers: { "set-cookie": deps.csrf.clear } });
  }

  return {
    handle(req: Req, res: Res, meta: RequestMeta): boolean {
      if ((req.url ?? "").split("?", 1)[0] !== "/signup") return false;
      if (req.method === "GET") form(res, 200, "");
      else if (req.method === "POST") answerSafely(res, post(req, res, meta), (error) => deps.log.error({ err: error, requestId: meta.requestId }, "sign-up page failed"));
      else return false;
      return true;
    },
  };
}
