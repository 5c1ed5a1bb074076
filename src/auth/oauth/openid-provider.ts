import type { IncomingMessage, ServerResponse } from "node:http";
import type pg from "pg";
import Provider, { errors, interactionPolicy, type Configuration, type KoaContextWithOIDC } from "oidc-provider";
import type { SigningAlgorithm } from "../../contract/access-token-rules.js";
import type { Logger } from "../../platform/log.js";
import type { SessionStore } from "../sessions/session-store.js";
import type { KeyRing } from "../tokens/key-ring.js";
import type { UserStore } from "../users/user-store.js";
import { escapeHtml, page } from "../pages/html.js";
import type { ClientRegistry } from "./client-registry.js";
import { secretMatches } from "./client-secrets.js";
import { clientGrantId, type GrantSessions } from "./grant-sessions.js";
import { hostedSessionOf } from "./hosted-session.js";
import type { OAuthConfig } from "./oauth-config.js";
import { createOAuthAdapterFactory } from "./pg-oauth-adapter.js";

export interface OpenIdProviderDeps {
  /** AUTH_ISSUER: the `iss` of ID tokens and access tokens alike. */
  issuer: string;
  /** PUBLIC_BASE_URL: every endpoint URL the provider states is built on it, whatever Host a request names. */
  publicBaseUrl: string;
  config: OAuthConfig;
  keys: KeyRing;
  alg: SigningAlgorithm;
  primary: pg.Pool;
  clients: ClientRegistry;
  grants: GrantSessions;
  users: UserStore;
  sessions: SessionStore;
  /** The hosted sign-in page's cookie (SESSION_COOKIE_NAME). */
  sessionCookie: string;
  log: Logger;
}

/** The paths the provider answers, all below /oauth2 but discovery (OpenID Connect Discovery 1.0 4). */
export const OAUTH_PREFIX = "/oauth2/";
export const DISCOVERY_PATH = "/.well-known/openid-configuration";
export const INTERACTION_PREFIX = "/oauth2/interaction/";

const ROUTES = {
  authorization: "/oauth2/authorize",
  token: "/oauth2/token",
  userinfo: "/oauth2/userinfo",
  jwks: "/oauth2/jwks",
  end_session: "/oauth2/logout",
  introspection: "/oauth2/introspect",
  revocation: "/oauth2/revoke",
  pushed_authorization_request: "/oauth2/par",
};

// Request bodies are form posts of a few hundred bytes; oidc-provider's own cap is 56 KiB.
const MAX_BODY_BYTES = 16 * 1024;

const seconds = (ms: number) => Math.max(1, Math.floor(ms / 1000));

export interface OpenIdProvider {
  /** The provider of the keys that sign now (rebuilt when the key ring rotates). */
  current(): Provider;
  /** True if it answered the request (discovery and everything under /oauth2/ but the interaction pages). */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

/**
 * The OpenID Provider: panva's oidc-provider (OpenID Certified) inside the auth service, over our
 * users, our session store, our key ring and Postgres. The signing keys are the ring's, so the
 * JWKS, kids and rotation are the ones every verifier already follows.
 */
export function createOpenIdProvider(deps: OpenIdProviderDeps): OpenIdProvider {
  const { config } = deps;
  const publicUrl = new URL(deps.publicBaseUrl);
  const adapter = createOAuthAdapterFactory({ primary: deps.primary, clients: deps.clients, onGrantEnded: (grantId) => deps.grants.revoke(grantId) });
  const resourceScopes = config.resources.flatMap((r) => r.scopes);

  function policy() {
    const prompts = interactionPolicy.base();
    const login = prompts.get("login");
    // The provider's own session follows the hosted page's: signing out there (or everywhere) ends it here.
    login?.checks.add(
      new interactionPolicy.Check("hosted_session", "the sign-in session ended", "login_required", async (ctx: KoaContextWithOIDC) => {
        const accountId = ctx.oidc.session?.accountId;
        if (!accountId || ctx.oidc.result?.login) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        const hosted = await hostedSessionOf(deps.sessions, deps.sessionCookie, ctx.req);
        return hosted?.userId === accountId ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT;
      }),
    );
    // acr_values=mfa asks for our `mfa` level (a second factor at sign-in): a session without it signs in again.
    login?.checks.add(
      new interactionPolicy.Check("mfa_requested", "a second factor is required", "login_required", (ctx: KoaContextWithOIDC) => {
        const wanted = String(ctx.oidc.params?.acr_values ?? "").split(" ");
        if (!wanted.includes("mfa")) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        const acr = ctx.oidc.result?.login?.acr ?? ctx.oidc.session?.acr;
        return acr === "mfa" ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT;
      }),
    );
    return prompts;
  }

  function configuration(): Configuration {
    return {
      adapter,
      clients: [],
      jwks: { keys: deps.keys.privateJwks() as NonNullable<Configuration["jwks"]>["keys"] },
      cookies: {
        keys: [config.cookieKey],
        long: { signed: true, httpOnly: true, sameSite: "lax", secure: publicUrl.protocol === "https:" },
        short: { signed: true, httpOnly: true, sameSite: "lax", secure: publicUrl.protocol === "https:" },
      },
      routes: ROUTES,
      scopes: ["openid", "offline_access", "email", ...resourceScopes],
      claims: { openid: ["sub"], email: ["email", "email_verified"] },
      acrValues: ["basic", "mfa"],
      responseTypes: ["code"],
      clientAuthMethods: ["client_secret_basic", "private_key_jwt", "none"],
      // No HS* anywhere: the stored "secret" is a digest, so a secret-keyed MAC could never be checked.
      enabledJWA: {
        idTokenSigningAlgValues: ["EdDSA", "ES256"],
        clientAuthSigningAlgValues: ["EdDSA", "ES256", "ES384", "RS256", "PS256"],
        requestObjectSigningAlgValues: ["EdDSA", "ES256"],
        userinfoSigningAlgValues: ["EdDSA", "ES256"],
        introspectionSigningAlgValues: ["EdDSA", "ES256"],
        authorizationSigningAlgValues: ["EdDSA", "ES256"],
      },
      clientDefaults: {
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_basic",
        id_token_signed_response_alg: deps.alg,
      },
      // RFC 9700 2.1.1: PKCE for every client; oidc-provider 9 knows S256 only, so `plain` is refused.
      pkce: { required: () => true },
      rotateRefreshToken: true,
      // Every token of a grant rests on the grant's own session, not on the browser's.
      expiresWithSession: () => false,
      features: {
        devInteractions: { enabled: false },
        // A client introspects its own tokens only: another client learns nothing about them.
        introspection: { enabled: true, allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId },
        // RFC 7009 2.1: a client revokes only its own tokens.
        revocation: { enabled: true, allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId },
        userinfo: { enabled: true },
        clientCredentials: { enabled: true },
        rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
        resourceIndicators: {
          enabled: true,
          // Only what the client names (RFC 8707): without a resource the access token is for userinfo alone.
          defaultResource: (_ctx, _client, oneOf) => oneOf,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx, indicator) => {
            const resource = config.resources.find((r) => r.audience === indicator);
            if (!resource) throw new errors.InvalidTarget("unknown resource");
            return {
              audience: resource.audience,
              scope: resource.scopes.join(" "),
              accessTokenTTL: seconds(config.accessTokenTtlMs),
              // RFC 9068, signed by the key the ring signs with now.
              accessTokenFormat: "jwt",
              jwt: { sign: { alg: deps.alg, kid: deps.keys.current().kid } },
            };
          },
        },
      },
      ttl: {
        AccessToken: seconds(config.accessTokenTtlMs),
        ClientCredentials: seconds(config.accessTokenTtlMs),
        AuthorizationCode: seconds(config.codeTtlMs),
        IdToken: seconds(config.accessTokenTtlMs),
        RefreshToken: seconds(config.refreshTokenTtlMs),
        Grant: seconds(config.grantTtlMs),
        Session: seconds(config.grantTtlMs),
        Interaction: seconds(config.interactionTtlMs),
      },
      interactions: { url: (_ctx, interaction) => `${INTERACTION_PREFIX}${interaction.uid}`, policy: policy() },
      async findAccount(_ctx, id) {
        // The primary: a disabled or deleted account must stop getting tokens at once.
        const user = await deps.users.findById(id);
        if (!user || user.disabled) return undefined;
        return {
          accountId: user.id,
          claims: (_use, scope) => ({ sub: user.id, ...(scope.split(" ").includes("email") ? { email: user.email, email_verified: user.emailVerified } : {}) }),
        };
      },
      async loadExistingGrant(ctx) {
        const accountId = ctx.oidc.session?.accountId;
        const clientId = ctx.oidc.client?.clientId;
        const grantId = ctx.oidc.result?.consent?.grantId ?? (accountId && clientId ? await deps.grants.grantFor(accountId, clientId) : undefined);
        if (!grantId) return undefined;
        // A grant whose session ended (SignOutAll, a password change, revocation) is not remembered consent.
        if (!(await deps.grants.live(grantId))) {
          await ctx.oidc.provider.Grant.adapter.destroy(grantId);
          return undefined;
        }
        const grant = await ctx.oidc.provider.Grant.find(grantId);
        return grant && grant.accountId === accountId ? grant : undefined;
      },
      async extraTokenClaims(ctx, token) {
        if (token.kind === "ClientCredentials") {
          const client = ctx.oidc.client!;
          const grantId = clientGrantId(client.clientId);
          const live = await deps.grants.live(grantId);
          const sid =
            live?.sessionId ??
            (await deps.grants.open(
              { grantId, accountId: client.clientId, clientId: client.clientId, clientName: client.clientName ?? client.clientId },
              { acr: "basic", emailVerified: false, authTime: Date.now(), ip: ctx.ip },
            ));
          return { sid };
        }
        const grantId = (token as { grantId?: string }).grantId;
        const live = grantId ? await deps.grants.live(grantId) : undefined;
        // Fail closed: a grant whose session ended issues nothing more.
        if (!live) throw new errors.InvalidGrant("grant is no longer valid");
        return { sid: live.sessionId, acr: live.acr, email_verified: live.emailVerified };
      },
      async renderError(ctx, out) {
        ctx.type = "html";
        ctx.set("cache-control", "no-store");
        ctx.set("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'");
        ctx.body = page(
          "Sign-in failed",
          `<h1>Something went wrong</h1>
<p class="error" role="alert">${escapeHtml(String(out.error_description ?? out.error ?? "error"))}</p>
<p>Code: <code>${escapeHtml(String(out.error ?? "server_error"))}</code></p>`,
        );
      },
    };
  }

  async function logoutSource(ctx: KoaContextWithOIDC, form: string) {
    ctx.set("content-security-policy", `default-src 'none'; style-src 'unsafe-inline'; form-action 'self' ${formTargets(ctx)}; frame-ancestors 'none'; base-uri 'none'`);
    const name = ctx.oidc.client?.clientName ?? "";
    ctx.body = page(
      "Sign out",
      `<h1>Sign out${name ? ` of ${escapeHtml(name)}` : ""}?</h1>
${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`,
    );
  }

  async function postLogoutSuccessSource(ctx: KoaContextWithOIDC) {
    ctx.body = page("Signed out", "<h1>You are signed out</h1>");
  }

  /** Where a form of ours may end up: the post-logout redirect, if the client registered one. */
  function formTargets(ctx: KoaContextWithOIDC): string {
    const uris = (ctx.oidc.client?.postLogoutRedirectUris ?? []) as string[];
    return uris.map((uri) => new URL(uri).origin).join(" ");
  }

  function build(): Provider {
    const provider = new Provider(deps.issuer, configuration());
    // Envoy in front; the headers below are set from PUBLIC_BASE_URL before every request, never taken from a client.
    provider.proxy = true;
    // The stored client_secret is the SHA-256 of the secret (oidc-provider's documented hook for hashed secrets).
    provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string) {
      return secretMatches(this.clientSecret, actual);
    };
    provider.use(async (ctx, next) => {
      await next();
      // RP-initiated logout ends the hosted page's session too: one sign-in, one sign-out. Only when the
      // user said yes: oidc-provider answers 303 to "stay signed in" as well, without the `logout` field.
      if (ctx.oidc?.route === "end_session_confirm" && ctx.status === 303 && ctx.oidc.params?.logout) {
        const hosted = await hostedSessionOf(deps.sessions, deps.sessionCookie, ctx.req);
        if (hosted) await deps.sessions.revoke(hosted.id, hosted.userId);
        ctx.append("set-cookie", `${deps.sessionCookie}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${publicUrl.protocol === "https:" ? "; Secure" : ""}`);
      }
    });
    provider.on("server_error", (_ctx, error) => deps.log.error({ err: error }, "oauth server error"));
    provider.on("grant.revoked", (_ctx, grantId) => deps.log.info({ grantId }, "oauth grant revoked"));
    return provider;
  }

  const keySignature = () => deps.keys.privateJwks().map((k) => k.kid).join(",");
  const instance = (signature: string) => {
    const provider = build();
    // Koa composes its middleware in callback(): once per instance, not per request.
    return { signature, provider, handler: provider.callback() };
  };
  let built = instance(keySignature());

  function current(): typeof built {
    const signature = keySignature();
    // Rotation is rare (SIGNING_KEY_ROTATION): a new instance is cheap, and every state it needs is in Postgres.
    if (signature !== built.signature) built = instance(signature);
    return built;
  }

  return {
    current: () => current().provider,
    handle(req, res) {
      const path = (req.url ?? "").split("?")[0] ?? "";
      if (path !== DISCOVERY_PATH && !path.startsWith(OAUTH_PREFIX)) return false;
      const refusal = bodyRefusal(req);
      if (refusal) {
        oauthError(req, res, refusal.status, refusal.description);
        return true;
      }
      req.headers["x-forwarded-host"] = publicUrl.host;
      req.headers["x-forwarded-proto"] = publicUrl.protocol.replace(":", "");
      void current().handler(req, res);
      return true;
    },
  };
}

/** A body we refuse before the provider reads it: unframed (no Content-Length) or larger than any form it takes. */
function bodyRefusal(req: IncomingMessage): { status: number; description: string } | undefined {
  if (req.method !== "POST") return undefined;
  const length = Number(req.headers["content-length"] ?? Number.NaN);
  if (!Number.isFinite(length)) return { status: 411, description: "a request body needs a Content-Length" };
  if (length > MAX_BODY_BYTES) return { status: 413, description: `request body over ${MAX_BODY_BYTES} bytes` };
  return undefined;
}

function oauthError(req: IncomingMessage, res: ServerResponse, status: number, description: string): void {
  const body = JSON.stringify({ error: "invalid_request", error_description: description });
  // The unread body is left behind: an HTTP/1.1 connection is closed rather than parsed on from its middle.
  const close = req.httpVersionMajor === 1 ? { connection: "close" } : {};
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", "content-length": String(Buffer.byteLength(body)), ...close });
  res.end(body);
}
