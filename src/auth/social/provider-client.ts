import * as oidc from "openid-client";
import type { SocialProvider } from "./social-config.js";

/**
 * Who the provider says signed in. `issuer` vouches for `subject`: the ID token's iss (for Microsoft
 * it names the tenant), or GitHub's configured web origin. `emailVerified` is the provider's own word
 * (OIDC Core 5.1 email_verified).
 */
export interface ProviderIdentity {
  issuer: string;
  subject: string;
  email: string | undefined;
  emailVerified: boolean;
}

export interface AuthorizationChecks {
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** One provider, spoken to through openid-client: the authorization request and the code exchange with every check it makes. */
export interface ProviderClient {
  authorizationUrl(checks: AuthorizationChecks): Promise<URL>;
  /** The identity of a callback (its full URL); throws when the provider refused or a check failed. */
  finish(callback: URL, checks: AuthorizationChecks): Promise<ProviderIdentity>;
}

// A provider slower than this fails the sign-in rather than holding the browser.
const TIMEOUT_SECONDS = 10;
const GITHUB_ACCEPT = "application/vnd.github+json";

/** An answer of the provider that openid-client accepted but that does not say who signed in. */
export class ProviderAnswerError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly unavailable = false,
  ) {
    super(message);
    this.name = "ProviderAnswerError";
  }
}

/** Whether a failure of the provider's side is the network or the provider being down (retry later), not a refusal. */
export function providerUnavailable(error: unknown): boolean {
  if (error instanceof ProviderAnswerError) return error.unavailable;
  if (error instanceof oidc.ResponseBodyError) return error.status >= 500;
  if (error instanceof oidc.ClientError) return error.code === "OAUTH_TIMEOUT" || error.code === "OAUTH_ABORT" || error.code === "OAUTH_RESPONSE_IS_NOT_CONFORM";
  // What fetch throws when it cannot connect.
  return error instanceof TypeError && error.message === "fetch failed";
}

/** A short code for the audit log of why the provider's answer was refused. */
export function refusalCode(error: unknown): string {
  // The provider chooses the error string: bounded before it reaches the audit log.
  if (error instanceof oidc.ResponseBodyError) return error.error.slice(0, 64);
  if (error instanceof oidc.ClientError || error instanceof ProviderAnswerError) return error.code ?? "client_error";
  return "invalid_response";
}

/** The verified address from ID token claims: email_verified, or Microsoft's xms_edov (the domain owner vouches for it). */
function identityOf(issuer: string, claims: Record<string, unknown>): ProviderIdentity {
  const email = typeof claims.email === "string" ? claims.email : undefined;
  return { issuer, subject: String(claims.sub), email, emailVerified: email !== undefined && (claims.email_verified === true || claims.xms_edov === true) };
}

function oidcClient(provider: SocialProvider, redirectUri: string): ProviderClient {
  let discovered: Promise<oidc.Configuration> | undefined;
  const configuration = () =>
    (discovered ??= oidc
      .discovery(new URL(provider.issuer), provider.clientId, provider.clientSecret, undefined, {
        // OIDC Core 3.1.3.7 lets a client skip the ID token's signature when TLS vouches for the token endpoint;
        // checking it anyway (against the provider's JWKS, cached) keeps a proxy or a plain-HTTP stand-in from choosing the claims.
        execute: [oidc.enableNonRepudiationChecks, ...(provider.allowHttp ? [oidc.allowInsecureRequests] : [])],
        timeout: TIMEOUT_SECONDS,
      })
      .catch((error: unknown) => {
        // Discovered again next time: a provider that was down at first use must not stay broken.
        discovered = undefined;
        throw error;
      }));
  return {
    async authorizationUrl(checks) {
      return oidc.buildAuthorizationUrl(await configuration(), {
        redirect_uri: redirectUri,
        response_type: "code",
        scope: provider.scopes,
        state: checks.state,
        nonce: checks.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(checks.codeVerifier),
        code_challenge_method: "S256",
      });
    },
    async finish(callback, checks) {
      const config = await configuration();
      const tokens = await oidc.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
      const claims = tokens.claims() as Record<string, unknown> | undefined;
      if (!claims) throw new ProviderAnswerError("no_id_token", "the token response has no ID token");
      // openid-client has checked iss against the discovered issuer (Microsoft "common": with the token's own tid).
      const identity = identityOf(String(claims.iss), claims);
      if (identity.email !== undefined || !config.serverMetadata().userinfo_endpoint) return identity;
      // OIDC Core 5.4: some providers put email only in the UserInfo answer; its sub must be the ID token's.
      return identityOf(identity.issuer, { ...(await oidc.fetchUserInfo(config, tokens.access_token, identity.subject)), sub: identity.subject });
    },
  };
}

/** GitHub: OAuth 2.0 only (no ID token); the user is GET /user, the address the primary verified one of GET /user/emails. */
function githubClient(provider: SocialProvider, redirectUri: string): ProviderClient {
  // No ID token names an issuer: the server the user ids come from is the configured one (github.com or a GHES).
  const issuer = new URL(provider.issuer).origin;
  const config = new oidc.Configuration(
    { issuer: provider.issuer, authorization_endpoint: `${provider.issuer}/login/oauth/authorize`, token_endpoint: `${provider.issuer}/login/oauth/access_token` },
    provider.clientId,
    provider.clientSecret,
  );
  config.timeout = TIMEOUT_SECONDS;
  if (provider.allowHttp) oidc.allowInsecureRequests(config);

  async function api(token: string, path: string): Promise<unknown> {
    const response = await oidc.fetchProtectedResource(config, token, new URL(`${provider.apiUrl}${path}`), "GET", undefined, new Headers({ accept: GITHUB_ACCEPT }));
    if (!response.ok) throw new ProviderAnswerError(`github_status_${response.status}`, `GitHub ${path} answered ${response.status}`, response.status >= 500);
    return response.json();
  }

  return {
    async authorizationUrl(checks) {
      return oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: provider.scopes,
        state: checks.state,
        code_challenge: await oidc.calculatePKCECodeChallenge(checks.codeVerifier),
        code_challenge_method: "S256",
      });
    },
    async finish(callback, checks) {
      const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: checks.codeVerifier, expectedState: checks.state });
      const user = (await api(tokens.access_token, "/user")) as { id?: unknown };
      if (!Number.isSafeInteger(user.id)) throw new ProviderAnswerError("github_no_user_id", "GitHub /user has no id");
      const emails = await api(tokens.access_token, "/user/emails");
      const primary = Array.isArray(emails)
        ? (emails as Array<{ email?: unknown; primary?: unknown; verified?: unknown }>).find((e) => e.primary === true && e.verified === true && typeof e.email === "string")
        : undefined;
      return { issuer, subject: String(user.id), email: primary?.email as string | undefined, emailVerified: primary !== undefined };
    },
  };
}

export function createProviderClient(provider: SocialProvider, redirectUri: string): ProviderClient {
  return provider.protocol === "github" ? githubClient(provider, redirectUri) : oidcClient(provider, redirectUri);
}
