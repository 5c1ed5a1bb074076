import { hkdfSync } from "node:crypto";
import type { EnvReader } from "../../platform/config.js";

/** A resource server OAuth clients get access tokens for: the token's `aud` and the scopes it may carry. */
export interface OAuthResource {
  audience: string;
  scopes: string[];
}

export interface OAuthConfig {
  /**
   * OAUTH_RESOURCES: comma-separated `<audience>=<scope> <scope>...`, e.g.
   * `urn:example:api=orders.read orders.write`. Access tokens are RFC 9068 JWTs for one of these;
   * the gateway accepts them only on routes its AUTHZ_AUDIENCE_RULES give that audience. Default none.
   */
  resources: OAuthResource[];
  /** OAUTH_ACCESS_TOKEN_TTL, default ACCESS_TOKEN_TTL. */
  accessTokenTtlMs: number;
  /** OAUTH_CODE_TTL, default 60s (RFC 6749 4.1.2: at most 10 minutes; one is plenty). */
  codeTtlMs: number;
  /** OAUTH_REFRESH_TOKEN_TTL, default SESSION_IDLE_TTL: the grant's session idles out with it. At most SESSION_ABSOLUTE_TTL. */
  refreshTokenTtlMs: number;
  /** OAUTH_GRANT_TTL, default SESSION_ABSOLUTE_TTL: a grant lives no longer than the session it rests on. */
  grantTtlMs: number;
  /** OAUTH_INTERACTION_TTL, default 10m: how long a sign-in or consent step of an authorization may take. */
  interactionTtlMs: number;
  /** OAUTH_ADMIN_TOKEN (32 characters or more), default none: the bearer auth.oauth.v1.OAuthAdminService takes; without it the service refuses every call. */
  adminToken: string | undefined;
  /** Signs oidc-provider's own cookies (its session, interaction): HKDF of SIGNING_KEY_ENCRYPTION_KEY under a label of its own. */
  cookieKey: string;
}

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,64}$/;

export function readOAuthConfig(
  read: EnvReader,
  base: { signingKeyEncryptionKey: Buffer; accessTokenTtlMs: number; sessionIdleTtlMs: number; sessionAbsoluteTtlMs: number; shared: { audience: string } },
): OAuthConfig {
  const resources: OAuthResource[] = [];
  for (const entry of read.list("OAUTH_RESOURCES")) {
    const split = entry.lastIndexOf("=");
    const audience = split > 0 ? entry.slice(0, split).trim() : "";
    const scopes = split > 0 ? entry.slice(split + 1).trim().split(/\s+/).filter(Boolean) : [];
    let absolute = false;
    try {
      absolute = new URL(audience).protocol !== "";
    } catch {
      absolute = false;
    }
    if (!absolute || scopes.length === 0 || !scopes.every((s) => SCOPE_TOKEN.test(s))) {
      read.report(`OAUTH_RESOURCES: "${entry.slice(0, 100)}" must be <absolute URI>=<scope> <scope>...`);
      continue;
    }
    // A resource named like our own API would make a client's delegated token look like the user's own.
    if (audience === base.shared.audience) {
      read.report(`OAUTH_RESOURCES: "${audience.slice(0, 100)}" is AUTH_AUDIENCE, the audience of the platform's own tokens; name the resource differently`);
      continue;
    }
    resources.push({ audience, scopes });
  }
  const grantTtlMs = read.duration("OAUTH_GRANT_TTL", `${Math.floor(base.sessionAbsoluteTtlMs / 1000)}s`);
  const refreshTokenTtlMs = read.duration("OAUTH_REFRESH_TOKEN_TTL", `${Math.floor(Math.min(base.sessionIdleTtlMs, grantTtlMs) / 1000)}s`);
  // Only what an operator set is held to these: the defaults follow the session lifetimes, whose own rules are checked beside them.
  if (read.isSet("OAUTH_GRANT_TTL") && grantTtlMs > base.sessionAbsoluteTtlMs) read.report("OAUTH_GRANT_TTL must not be longer than SESSION_ABSOLUTE_TTL: the grant's session would end first");
  if (read.isSet("OAUTH_REFRESH_TOKEN_TTL") && refreshTokenTtlMs > grantTtlMs) read.report("OAUTH_REFRESH_TOKEN_TTL must not be longer than OAUTH_GRANT_TTL");
  const adminToken = read.string("OAUTH_ADMIN_TOKEN", "") || undefined;
  if (adminToken !== undefined && adminToken.length < 32) read.report("OAUTH_ADMIN_TOKEN must be at least 32 characters");
  return {
    adminToken,
    resources,
    accessTokenTtlMs: read.duration("OAUTH_ACCESS_TOKEN_TTL", `${Math.floor(base.accessTokenTtlMs / 1000)}s`),
    codeTtlMs: read.duration("OAUTH_CODE_TTL", "60s", 600_000),
    refreshTokenTtlMs,
    grantTtlMs,
    interactionTtlMs: read.duration("OAUTH_INTERACTION_TTL", "10m", 3_600_000),
    cookieKey: Buffer.from(hkdfSync("sha256", base.signingKeyEncryptionKey, Buffer.alloc(0), "auth-platform oauth cookies v1", 32)).toString("base64url"),
  };
}
