import { Code, ConnectError, createContextValues, type CallOptions } from "@connectrpc/connect";
import type { Logger } from "../../platform/log.js";
import { kRequestMeta, type RequestMeta } from "../../platform/request-context.js";
import { parseSessionSecret } from "../../contract/session-secret.js";
import type { SessionRecord, SessionStore } from "../sessions/session-store.js";
import type { AccessTokens } from "../tokens/access-tokens.js";
import { alertBox, noticeBox } from "./form-fields.js";
import { answerSafely, cookieOf, readForm, sendHtml, type Csrf, type Req, type Res } from "./forms.js";
import { escapeHtml, page } from "./html.js";

/** What a page shows besides its own content: the outcome of the last post. */
export interface View {
  status: number;
  alert?: string | undefined;
  notice?: string | undefined;
  /** Errors by field name, shown under that field. */
  errors?: Record<string, string>;
}

export interface AccountRequest {
  req: Req;
  res: Res;
  meta: RequestMeta;
  url: URL;
  session: SessionRecord;
  /** Call options that make an in-process RPC act as this browser's session (bearer + request meta). */
  call: CallOptions;
  /** Sends the page with the account navigation; `body` gets the form token; `nonce` lets its scripts run. */
  show(view: View, title: string, body: (csrf: string) => string, nonce?: string): void;
  /** Post/Redirect/Get: back to the page with one of its fixed notices. */
  done(notice: string): void;
}

export type Posted = AccountRequest & { form: URLSearchParams };

export interface AccountRoute {
  path: string;
  nav: string;
  render(a: AccountRequest, view: View): Promise<void>;
  /** POST handlers by path; a returned View renders the page again with it. */
  actions?: Record<string, (a: Posted) => Promise<View | void>>;
  /** The words for each `?done=` key: fixed text, so nothing a link carries is reflected. */
  notices?: Record<string, string>;
}

export interface AccountKitDeps {
  sessions: Pick<SessionStore, "findByCookie">;
  tokens: Pick<AccessTokens, "issue">;
  cookieName: string;
  csrf: Csrf;
  log: Logger;
}

const NAV: Array<[string, string]> = [
  ["/account", "Overview"],
  ["/account/sessions", "Sessions"],
  ["/account/two-step", "Two-step sign-in"],
  ["/account/passkeys", "Passkeys"],
  ["/account/identities", "Linked sign-ins"],
  ["/account/password", "Password"],
  ["/account/email", "Email"],
  ["/account/security", "Security events"],
];

/**
 * Which field an RPC refusal is about: the service names the field first ("new_password must ...",
 * or the rule's own word: "password is too common" on a new_password, "email ..." on a new_email).
 */
function fieldOf(message: string, fields: string[], code: Code): string | undefined {
  if (code === Code.PermissionDenied && fields.includes("current_password")) return "current_password";
  return fields.find((name) => [name, name.replaceAll("_", " "), name.replace(/^new_/, "")].some((word) => message.startsWith(word)));
}

/** An RPC's message as a sentence for a page ("invalid code" -> "Invalid code."). */
export const sentence = (message: string) => `${message.charAt(0).toUpperCase()}${message.slice(1)}.`;

const STATUS: Partial<Record<Code, number>> = {
  [Code.InvalidArgument]: 400,
  [Code.Unauthenticated]: 401,
  [Code.PermissionDenied]: 403,
  [Code.NotFound]: 404,
  [Code.FailedPrecondition]: 409,
  [Code.ResourceExhausted]: 429,
};

export interface Refusal {
  status: number;
  message: string;
  /** The form field it is about, if any. */
  field?: string;
}

/** A refusal of the user's input, as a page shows it; undefined for a fault of ours (logged, 503). */
export function refusalOf(error: unknown, fields: string[]): Refusal | undefined {
  const { code, rawMessage } = ConnectError.from(error);
  const status = STATUS[code];
  if (status === undefined) return undefined;
  const message = code === Code.ResourceExhausted ? "Too many attempts. Please wait and try again." : sentence(rawMessage);
  const name = fieldOf(rawMessage, fields, code);
  return { status, message, ...(name ? { field: name } : {}) };
}

/**
 * The account pages' common part: the browser's session from its cookie (the same check the
 * gateway makes), an access token for that session so every page acts through the RPCs with
 * all their rules, the CSRF check of every post, and the mapping of refusals to fields.
 */
export function createAccountKit(deps: AccountKitDeps, routes: AccountRoute[]) {
  const byPage = new Map(routes.map((r) => [r.path, r]));
  const byAction = new Map(routes.flatMap((r) => Object.entries(r.actions ?? {}).map(([path, act]) => [path, { route: r, act }] as const)));

  async function sessionOf(req: Req): Promise<SessionRecord | undefined> {
    const parsed = parseSessionSecret(cookieOf(req, deps.cookieName) ?? "");
    return parsed ? deps.sessions.findByCookie(parsed.sessionId, parsed.hash) : undefined;
  }

  function toSignIn(res: Res, returnTo: string) {
    res.writeHead(303, { location: `/signin?return_to=${encodeURIComponent(returnTo)}`, "cache-control": "no-store" });
    res.end();
  }

  async function requestFor(req: Req, res: Res, meta: RequestMeta, url: URL, route: AccountRoute): Promise<AccountRequest | undefined> {
    const session = await sessionOf(req);
    if (!session) return void toSignIn(res, req.method === "GET" ? `${url.pathname}${url.search}` : route.path);
    const { token } = await deps.tokens.issue(session);
    const call: CallOptions = { headers: { authorization: `Bearer ${token}` }, contextValues: createContextValues().set(kRequestMeta, meta) };
    return {
      req,
      res,
      meta,
      url,
      session,
      call,
      show(view, title, body, nonce) {
        const csrf = deps.csrf.issue();
        const nav = NAV.map(([href, label]) => `<li><a href="${href}"${href === route.nav ? ' aria-current="page"' : ""}>${escapeHtml(label)}</a></li>`).join("");
        const html = page(
          title,
          `<nav aria-label="Account"><ul>${nav}<li><a href="/signout">Sign out</a></li></ul></nav>
<h1>${escapeHtml(title)}</h1>
${alertBox(view.alert)}${noticeBox(view.notice)}
${body(csrf.token)}`,
          { wide: true },
        );
        sendHtml(res, view.status, html, { ...(nonce ? { nonce } : {}), headers: { "set-cookie": csrf.setCookie } });
      },
      done(notice) {
        res.writeHead(303, { location: `${route.path}?done=${encodeURIComponent(notice)}`, "cache-control": "no-store" });
        res.end();
      },
    };
  }

  async function post(req: Req, res: Res, meta: RequestMeta, url: URL, route: AccountRoute, act: (a: Posted) => Promise<View | void>) {
    const form = await readForm(req);
    if (form === "too_large") return sendHtml(res, 413, page("Too large", "<h1>Request too large</h1>"));
    if (!form) return sendHtml(res, 400, page("Bad request", "<h1>Bad request</h1><p>Send the form.</p>"));
    const a = await requestFor(req, res, meta, url, route);
    if (!a) return;
    if (!deps.csrf.accepts(req, form.get("csrf") ?? "")) return route.render(a, { status: 403, alert: "This form expired. Please try again." });
    let view: View | void;
    try {
      view = await act({ ...a, form });
    } catch (error) {
      const refusal = refusalOf(error, [...form.keys()]);
      if (!refusal) {
        deps.log.error({ err: error, requestId: meta.requestId }, "account page failed");
        return route.render(a, { status: 503, alert: "This is unavailable right now. Please try again." });
      }
      view = { status: refusal.status, alert: refusal.message, ...(refusal.field ? { errors: { [refusal.field]: refusal.message } } : {}) };
    }
    if (view) await route.render(a, view);
  }

  return {
    /** True if it answered the request: a page or an action under /account. */
    handle(req: Req, res: Res, meta: RequestMeta): boolean {
      const url = new URL(req.url ?? "/", "http://local");
      const failed = (error: unknown) => deps.log.error({ err: error, requestId: meta.requestId }, "account page failed");
      const pageRoute = byPage.get(url.pathname);
      if (pageRoute && req.method === "GET") {
        answerSafely(
          res,
          requestFor(req, res, meta, url, pageRoute).then((a) => a && pageRoute.render(a, { status: 200, notice: pageRoute.notices?.[url.searchParams.get("done") ?? ""] })),
          failed,
        );
        return true;
      }
      const action = byAction.get(url.pathname);
      if (action && req.method === "POST") {
        answerSafely(res, post(req, res, meta, url, action.route, action.act), failed);
        return true;
      }
      return false;
    },
  };
}
