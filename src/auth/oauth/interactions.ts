import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../../platform/log.js";
import { answerSafely, readForm, sendHtml, type Csrf } from "../pages/forms.js";
import { escapeHtml, page } from "../pages/html.js";
import type { SessionRecord, SessionStore } from "../sessions/session-store.js";
import type { GrantSessions } from "./grant-sessions.js";
import { hostedSessionOf } from "./hosted-session.js";
import { INTERACTION_PREFIX, type OpenIdProvider } from "./openid-provider.js";

/** When this interaction sent the browser to sign in afresh (prompt=login, max_age): only a sign-in after it counts. */
export interface ReauthMarks {
  mark(uid: string, atMs: number, expiresAtS: number): Promise<void>;
  since(uid: string): Promise<number | undefined>;
}

export interface InteractionDeps {
  op: OpenIdProvider;
  reauth: ReauthMarks;
  sessions: SessionStore;
  grants: GrantSessions;
  sessionCookie: string;
  csrf: Csrf;
  log: Logger;
}

type Details = Awaited<ReturnType<ReturnType<OpenIdProvider["current"]>["interactionDetails"]>>;

const UID = /^[A-Za-z0-9_-]{1,64}$/;

const SCOPE_TEXT: Record<string, string> = {
  openid: "Know who you are",
  email: "See your email address",
  offline_access: "Stay connected when you are not using it",
};

/**
 * The OpenID Provider's interactions on our hosted pages: sign-in is the hosted /signin page (its
 * cookie, its limits, lockout and second factor), and a user signed in there is not asked again;
 * consent is a page of its own here, and remembered (oauth_grant_sessions).
 */
export function createInteractions(deps: InteractionDeps) {
  const { csrf } = deps;

  /**
   * Whether the hosted session proves what this authorization asks: a sign-in after we asked for
   * one (prompt=login), within max_age, with a second factor for acr_values=mfa.
   */
  function satisfies(session: SessionRecord, details: Details, freshSince: number | undefined): boolean {
    const authMs = session.authTime.getTime();
    if (freshSince !== undefined && authMs >= freshSince) return true;
    if (details.prompt.reasons.includes("login_prompt")) return false;
    const maxAge = details.params.max_age;
    if (maxAge !== undefined && authMs < Date.now() - Number(maxAge) * 1000) return false;
    return !String(details.params.acr_values ?? "").split(" ").includes("mfa") || session.acr === "mfa";
  }

  async function login(req: IncomingMessage, res: ServerResponse, details: Details, uid: string) {
    const provider = deps.op.current();
    const session = await hostedSessionOf(deps.sessions, deps.sessionCookie, req);
    const freshSince = await deps.reauth.since(uid);
    if (!session || !satisfies(session, details, freshSince)) {
      if (freshSince === undefined) await deps.reauth.mark(uid, Date.now(), details.exp ?? Math.floor(Date.now() / 1000) + 600);
      res.writeHead(303, { location: `/signin?return_to=${encodeURIComponent(`${INTERACTION_PREFIX}${uid}`)}`, "cache-control": "no-store" });
      return void res.end();
    }
    const wantsMfa = String(details.params.acr_values ?? "").split(" ").includes("mfa");
    if (wantsMfa && session.acr !== "mfa") {
      // Signed in just now and still no second factor: the account has none to give.
      return provider.interactionFinished(req, res, { error: "unmet_authentication_requirements", error_description: "this account has no second factor" }, { mergeWithLastSubmission: false });
    }
    await provider.interactionFinished(req, res, {
      login: {
        accountId: session.userId,
        acr: session.acr,
        amr: session.acr === "mfa" ? ["pwd", "otp"] : ["pwd"],
        ts: Math.floor(session.authTime.getTime() / 1000),
      },
    });
  }

  function consentPage(res: ServerResponse, details: Details, clientName: string, uid: string) {
    const missing = details.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
    const scopes = [...(missing.missingOIDCScope ?? []), ...Object.values(missing.missingResourceScopes ?? {}).flat()];
    const token = csrf.issue();
    const items = scopes.map((s) => `<li>${escapeHtml(SCOPE_TEXT[s] ?? s)}</li>`).join("");
    const html = page(
      "Allow access",
      `<h1>Allow ${escapeHtml(clientName)} access?</h1>
<p>${escapeHtml(clientName)} asks to:</p>
<ul>${items}</ul>
<form method="post" action="${INTERACTION_PREFIX}${escapeHtml(uid)}/consent">
  <input type="hidden" name="csrf" value="${escapeHtml(token.token)}">
  <button type="submit" name="decision" value="allow">Allow</button>
  <button type="submit" name="decision" value="deny">Deny</button>
</form>`,
    );
    // The answer redirects to the client's redirect_uri: a form may go there (CSP form-action applies to redirects).
    const redirect = typeof details.params.redirect_uri === "string" ? new URL(details.params.redirect_uri).origin : "";
    sendHtml(res, 200, html, {
      headers: {
        "set-cookie": token.setCookie,
        "content-security-policy": `default-src 'none'; style-src 'unsafe-inline'; form-action 'self' ${redirect}; frame-ancestors 'none'; base-uri 'none'`,
      },
    });
  }

  async function show(req: IncomingMessage, res: ServerResponse, uid: string) {
    const provider = deps.op.current();
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) return notFound(res);
    if (details.prompt.name === "login") return login(req, res, details, uid);
    if (details.prompt.name !== "consent") return notFound(res);
    const client = await provider.Client.find(String(details.params.client_id));
    if (!client) return notFound(res);
    consentPage(res, details, client.clientName ?? client.clientId, uid);
  }

  async function decide(req: IncomingMessage, res: ServerResponse, uid: string) {
    const form = await readForm(req);
    if (form === "too_large") return sendHtml(res, 413, page("Too large", "<h1>Request too large</h1>"));
    if (!form) return sendHtml(res, 400, page("Bad request", "<h1>Bad request</h1>"));
    if (!csrf.accepts(req, form.get("csrf") ?? "")) return sendHtml(res, 403, page("Expired", "<h1>This page expired</h1><p>Go back to the application and try again.</p>"));
    const provider = deps.op.current();
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid || details.prompt.name !== "consent" || !details.session?.accountId) return notFound(res);
    const accountId = details.session.accountId;
    const clientId = String(details.params.client_id);
    if (form.get("decision") !== "allow") {
      return provider.interactionFinished(req, res, { error: "access_denied", error_description: "the user denied access" }, { mergeWithLastSubmission: false });
    }
    // The consent is given by the browser's own signed-in user: the provider's session must be theirs.
    const hosted = await hostedSessionOf(deps.sessions, deps.sessionCookie, req);
    if (!hosted || hosted.userId !== accountId) return sendHtml(res, 403, page("Signed out", "<h1>You are signed out</h1><p>Go back to the application and sign in again.</p>"));
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId, clientId });
    if (!grant) return notFound(res);
    const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(" "));
    const grantId = await grant.save();
    if (!details.grantId) {
      const client = await provider.Client.find(clientId);
      await deps.grants.open(
        { grantId, accountId, clientId, clientName: client?.clientName ?? clientId },
        { acr: hosted.acr, emailVerified: hosted.emailVerified, authTime: hosted.authTime.getTime(), ip: hosted.ip },
      );
    }
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  function notFound(res: ServerResponse) {
    sendHtml(res, 404, page("Not found", "<h1>This sign-in has expired</h1><p>Go back to the application and try again.</p>"));
  }

  function failed(res: ServerResponse) {
    return (error: unknown) => {
      const name = (error as { name?: string }).name;
      // oidc-provider's own errors (an unknown or expired interaction): the user's next step, not a fault.
      if (name === "SessionNotFound" || name === "InvalidRequest") {
        if (!res.headersSent) notFound(res);
        return;
      }
      deps.log.error({ err: error }, "oauth interaction failed");
    };
  }

  return {
    /** True if it answered the request (/oauth2/interaction/<uid>[/consent]). */
    handle(req: IncomingMessage, res: ServerResponse): boolean {
      const path = (req.url ?? "").split("?")[0] ?? "";
      if (!path.startsWith(INTERACTION_PREFIX)) return false;
      const [uid = "", action, ...rest] = path.slice(INTERACTION_PREFIX.length).split("/");
      if (!UID.test(uid) || rest.length > 0) return notFound(res), true;
      if (req.method === "GET" && action === undefined) answerSafely(res, show(req, res, uid), failed(res));
      else if (req.method === "POST" && action === "consent") answerSafely(res, decide(req, res, uid), failed(res));
      else sendHtml(res, 405, page("Not allowed", "<h1>Method not allowed</h1>"), { headers: { allow: action === "consent" ? "POST" : "GET" } });
      return true;
    },
  };
}
