import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import type { AuthService } from "../../gen/auth/v1/auth_pb.js";
import type { AccountRoute } from "./account-kit.js";
import { csrfInput, field } from "./form-fields.js";
import { escapeHtml } from "./html.js";

export interface AccountPagesDeps {
  auth: Client<typeof AuthService>;
}

/** A time as a machine-readable <time> with readable UTC text (the server does not know the reader's zone). */
export const timeOf = (ts: Timestamp | undefined) => {
  if (!ts) return "never";
  const date = timestampDate(ts);
  return `<time datetime="${date.toISOString()}">${date.toISOString().replace("T", " ").slice(0, 16)} UTC</time>`;
};

/** /account, /account/password, /account/email and /account/security: each one RPC of AuthService. */
export function accountPages(deps: AccountPagesDeps): AccountRoute[] {
  const { auth } = deps;

  const overview: AccountRoute = {
    path: "/account",
    nav: "/account",
    notices: { "verification-sent": "A new confirmation link is on its way to your email address." },
    async render(a, view) {
      const { user } = await auth.getMe({}, a.call);
      const verified = user?.emailVerified === true;
      a.show(view, "Your account", (csrf) => `<dl>
  <dt>Email</dt><dd>${escapeHtml(user?.email ?? "")}</dd>
  <dt>Email confirmed</dt><dd id="email-state">${verified ? "Yes" : "Not yet"}</dd>
  <dt>Member since</dt><dd>${timeOf(user?.createdAt)}</dd>
</dl>
${verified ? "" : `<form method="post" action="/account/verify-email">
  ${csrfInput(csrf)}
  <p>Didn't get the confirmation mail, or its link expired?</p>
  <button type="submit">Send a new confirmation link</button>
</form>`}`);
    },
    actions: {
      async "/account/verify-email"(a) {
        await auth.requestEmailVerification({}, a.call);
        a.done("verification-sent");
      },
    },
  };

  const password: AccountRoute = {
    path: "/account/password",
    nav: "/account/password",
    notices: { changed: "Your password is changed, and every other session was signed out." },
    async render(a, view) {
      a.show(view, "Change your password", (csrf) => `<form method="post" action="/account/password">
  ${csrfInput(csrf)}
  ${field({ name: "current_password", label: "Current password", type: "password", autocomplete: "current-password", maxlength: 128, error: view.errors?.current_password })}
  ${field({ name: "new_password", label: "New password", type: "password", autocomplete: "new-password", minlength: 8, maxlength: 128, hint: "8 to 128 characters; common passwords are refused.", error: view.errors?.new_password })}
  <button type="submit">Change password</button>
</form>`);
    },
    actions: {
      async "/account/password"(a) {
        await auth.changePassword({ currentPassword: a.form.get("current_password") ?? "", newPassword: a.form.get("new_password") ?? "" }, a.call);
        a.done("changed");
      },
    },
  };

  const email: AccountRoute = {
    path: "/account/email",
    nav: "/account/email",
    notices: { requested: "Check the new address: the change takes effect when you open the link we sent there." },
    async render(a, view) {
      a.show(view, "Change your email address", (csrf) => `<form method="post" action="/account/email">
  ${csrfInput(csrf)}
  ${field({ name: "new_email", label: "New email address", type: "email", autocomplete: "email", maxlength: 254, error: view.errors?.new_email })}
  ${field({ name: "current_password", label: "Current password", type: "password", autocomplete: "current-password", maxlength: 128, error: view.errors?.current_password })}
  <button type="submit">Send a confirmation link</button>
</form>`);
    },
    actions: {
      async "/account/email"(a) {
        await auth.changeEmail({ newEmail: a.form.get("new_email") ?? "", currentPassword: a.form.get("current_password") ?? "" }, a.call);
        a.done("requested");
      },
    },
  };

  const security: AccountRoute = {
    path: "/account/security",
    nav: "/account/security",
    async render(a, view) {
      const pageToken = a.url.searchParams.get("page") ?? "";
      // A page token that is not ours (edited, or from before a change) shows the newest events instead of an error page.
      const { events, nextPageToken } = await auth
        .listAuditEvents({ pageSize: 50, pageToken }, a.call)
        .catch((error: unknown) => (pageToken === "" ? Promise.reject(error) : auth.listAuditEvents({ pageSize: 50 }, a.call)));
      const rows = events
        .map((e) => `<tr><td>${timeOf(e.createdAt)}</td><td>${escapeHtml(e.type)}</td><td>${escapeHtml(e.ip)}</td><td>${escapeHtml(e.userAgent)}</td></tr>`)
        .join("\n");
      a.show(view, "Security events", () => `<p>Sign-ins, failed attempts and changes to your account, newest first.</p>
<table>
  <caption class="visually-hidden">Your security events</caption>
  <thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">IP address</th><th scope="col">Device</th></tr></thead>
  <tbody>${rows || '<tr><td colspan="4">No events yet.</td></tr>'}</tbody>
</table>
${nextPageToken ? `<p><a href="/account/security?page=${encodeURIComponent(nextPageToken)}">Older events</a></p>` : ""}`);
    },
  };

  return [overview, password, email, security];
}
