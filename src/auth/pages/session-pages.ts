import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { AuthService } from "../../gen/auth/v1/auth_pb.js";
import type { AccountRoute } from "./account-kit.js";
import { timeOf } from "./account-pages.js";
import { csrfInput } from "./form-fields.js";
import { escapeHtml } from "./html.js";

const BROWSERS: Array<[RegExp, string]> = [
  [/Edg\//, "Edge"],
  [/Firefox\//, "Firefox"],
  [/Chrome\/|Chromium\//, "Chrome"],
  [/Safari\//, "Safari"],
  [/curl\//, "curl"],
];
const SYSTEMS: Array<[RegExp, string]> = [
  [/Android/, "Android"],
  [/iPhone|iPad/, "iOS"],
  [/Windows/, "Windows"],
  [/Mac OS X|Macintosh/, "macOS"],
  [/Linux|X11/, "Linux"],
];

/** "Chrome on Linux" from a user agent; the raw string stays available to whoever wants the detail. */
export function deviceName(userAgent: string): string {
  const browser = BROWSERS.find(([pattern]) => pattern.test(userAgent))?.[1];
  const system = SYSTEMS.find(([pattern]) => pattern.test(userAgent))?.[1];
  if (browser && system) return `${browser} on ${system}`;
  return browser ?? system ?? (userAgent === "" ? "Unknown device" : "Other device");
}

/** /account/sessions: every live session of the account, with sign-out for this one, another, or all others. */
export function sessionPages(deps: { auth: Client<typeof AuthService> }): AccountRoute[] {
  const { auth } = deps;
  return [
    {
      path: "/account/sessions",
      nav: "/account/sessions",
      notices: { revoked: "That session is signed out.", others: "Every other session is signed out." },
      async render(a, view) {
        const { sessions } = await auth.listSessions({}, a.call);
        const ordered = [...sessions].sort((x, y) => Number(y.current) - Number(x.current));
        a.show(view, "Your sessions", (csrf) => {
          const rows = ordered
            .map(
              (s) => `<tr${s.current ? ' class="current"' : ""}>
  <td><span title="${escapeHtml(s.userAgent)}">${escapeHtml(deviceName(s.userAgent))}</span>${s.current ? " <strong>(this device)</strong>" : ""}</td>
  <td>${escapeHtml(s.ip)}</td>
  <td>${timeOf(s.lastSeenAt)}</td>
  <td>${
    s.current
      ? `<form method="post" action="/signout" class="inline">${csrfInput(csrf)}<button type="submit">Sign out</button></form>`
      : `<form method="post" action="/account/sessions/revoke" class="inline">${csrfInput(csrf)}<input type="hidden" name="session_id" value="${escapeHtml(s.sessionId)}"><button type="submit" aria-label="Sign out ${escapeHtml(deviceName(s.userAgent))} from ${escapeHtml(s.ip)}">Sign out</button></form>`
  }</td>
</tr>`,
            )
            .join("\n");
          return `<table>
  <caption class="visually-hidden">Signed-in sessions</caption>
  <thead><tr><th scope="col">Device</th><th scope="col">IP address</th><th scope="col">Last seen</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
  <tbody>${rows}</tbody>
</table>
${ordered.length > 1 ? `<form method="post" action="/account/sessions/others">${csrfInput(csrf)}<button type="submit">Sign out every other session</button></form>` : ""}`;
        });
      },
      actions: {
        async "/account/sessions/revoke"(a) {
          await auth.revokeSession({ sessionId: a.form.get("session_id") ?? "" }, a.call);
          a.done("revoked");
        },
        async "/account/sessions/others"(a) {
          const { sessions } = await auth.listSessions({}, a.call);
          // RevokeSession one by one: SignOutAll would end this session too. A session that ended meanwhile is fine; any other failure is shown.
          for (const s of sessions.filter((s) => !s.current)) {
            await auth.revokeSession({ sessionId: s.sessionId }, a.call).catch((error: unknown) => {
              if (ConnectError.from(error).code !== Code.NotFound) throw error;
            });
          }
          a.done("others");
        },
      },
    },
  ];
}
