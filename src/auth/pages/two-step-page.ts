import { Code, ConnectError, type Client } from "@connectrpc/connect";
import QRCode from "qrcode";
import type { AuthService } from "../../gen/auth/v1/auth_pb.js";
import { sentence, type AccountRequest, type AccountRoute, type View } from "./account-kit.js";
import { csrfInput, field } from "./form-fields.js";
import { escapeHtml } from "./html.js";

export interface TwoStepPageDeps {
  auth: Client<typeof AuthService>;
  /** Whether the account's TOTP is confirmed (the MFA domain's SecondFactor.required). */
  totpEnabled(userId: string): Promise<boolean>;
}

// What BeginTotpEnrollment answers: a base32 secret and its otpauth URI (Key Uri Format).
const SECRET = /^[A-Z2-7]{16,64}$/;
const OTPAUTH = /^otpauth:\/\/totp\/[\x21-\x7e]{1,480}$/;

/**
 * /account/two-step: turns TOTP on with a QR code to scan (or the secret to type), shows the
 * recovery codes once, and turns it off with a current code.
 */
export function twoStepPage(deps: TwoStepPageDeps): AccountRoute {
  const { auth } = deps;

  /** The scan-and-confirm step. The secret rides along in the form only to draw this step again after a mistyped code. */
  async function enrolment(a: AccountRequest, view: View, secret: string, uri: string) {
    // Inline SVG: no image request, so the CSP needs no img-src.
    const qr = await QRCode.toString(uri, { type: "svg", margin: 1, errorCorrectionLevel: "M" });
    const grouped = secret.replace(/(.{4})/g, "$1 ").trim();
    a.show(view, "Turn on two-step sign-in", (csrf) => `<ol>
  <li>Scan this code with an authenticator app:
    <div class="qr" role="img" aria-label="QR code for your authenticator app">${qr}</div>
  </li>
  <li>Or type this key into the app: <code id="totp-secret" data-secret="${escapeHtml(secret)}">${escapeHtml(grouped)}</code></li>
  <li>Enter the 6-digit code the app shows.</li>
</ol>
<form method="post" action="/account/two-step/confirm">
  ${csrfInput(csrf)}
  <input type="hidden" name="secret" value="${escapeHtml(secret)}">
  <input type="hidden" name="otpauth_uri" value="${escapeHtml(uri)}">
  ${field({ name: "code", label: "Code from the app", autocomplete: "one-time-code", inputmode: "numeric", maxlength: 32, error: view.errors?.code })}
  <button type="submit">Turn on two-step sign-in</button>
</form>`);
  }

  return {
    path: "/account/two-step",
    nav: "/account/two-step",
    notices: { disabled: "Two-step sign-in is off." },
    async render(a, view) {
      if (await deps.totpEnabled(a.session.userId)) {
        return a.show(view, "Two-step sign-in", (csrf) => `<p id="two-step-state">Two-step sign-in is <strong>on</strong>: signing in asks for a code from your authenticator app (or a passkey).</p>
<form method="post" action="/account/two-step/disable">
  ${csrfInput(csrf)}
  <h2>Turn it off</h2>
  ${field({ name: "code", label: "A current code, or a recovery code", autocomplete: "one-time-code", maxlength: 32, error: view.errors?.code })}
  <button type="submit">Turn off two-step sign-in</button>
</form>`);
      }
      a.show(view, "Two-step sign-in", (csrf) => `<p id="two-step-state">Two-step sign-in is <strong>off</strong>. With it on, signing in also asks for a code from an authenticator app.</p>
<form method="post" action="/account/two-step/begin">
  ${csrfInput(csrf)}
  ${field({ name: "current_password", label: "Current password", type: "password", autocomplete: "current-password", required: false, maxlength: 128, hint: "Needed unless you signed in a few minutes ago.", error: view.errors?.current_password })}
  <button type="submit">Set up an authenticator app</button>
</form>`);
    },
    actions: {
      async "/account/two-step/begin"(a) {
        const { secret, otpauthUri } = await auth.beginTotpEnrollment({ currentPassword: a.form.get("current_password") ?? "" }, a.call);
        await enrolment(a, { status: 200 }, secret, otpauthUri);
      },
      async "/account/two-step/confirm"(a) {
        try {
          const { recoveryCodes } = await auth.confirmTotpEnrollment({ code: a.form.get("code") ?? "" }, a.call);
          const list = recoveryCodes.map((c) => `<li><code>${escapeHtml(c)}</code></li>`).join("");
          a.show({ status: 200, notice: "Two-step sign-in is on." }, "Save your recovery codes", () => `<p>Each code signs you in once if you lose your authenticator app. Store them somewhere safe now: <strong>they are not shown again</strong>.</p>
<ul id="recovery-codes">${list}</ul>
<p><a href="/account/two-step">Done</a></p>`);
        } catch (error) {
          const secret = a.form.get("secret") ?? "";
          const uri = a.form.get("otpauth_uri") ?? "";
          const { code, rawMessage } = ConnectError.from(error);
          // A mistyped code: the same QR again, the error under the field. Anything else goes to the kit.
          if (code !== Code.InvalidArgument || !SECRET.test(secret) || !OTPAUTH.test(uri)) throw error;
          const message = sentence(rawMessage);
          await enrolment(a, { status: 400, alert: message, errors: { code: message } }, secret, uri);
        }
      },
      async "/account/two-step/disable"(a) {
        await auth.disableTotp({ code: a.form.get("code") ?? "" }, a.call);
        a.done("disabled");
      },
    },
  };
}
