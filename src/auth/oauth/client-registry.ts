import type pg from "pg";
import type { JWK } from "jose";
import { DomainError, invalidArgument } from "../../platform/errors.js";
import { newClientId, newClientSecret } from "./client-secrets.js";

export const OAUTH_GRANT_TYPES = ["authorization_code", "client_credentials", "refresh_token"] as const;
export type OAuthGrantType = (typeof OAUTH_GRANT_TYPES)[number];

export interface NewOAuthClient {
  name: string;
  grantTypes: string[];
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  scopes: string[];
  /** A public client (a browser or native app) holds no secret: PKCE alone binds its codes. */
  public: boolean;
  /** Public keys for private_key_jwt (RFC 7523); without them a confidential client gets a secret (client_secret_basic). */
  jwks?: { keys: JWK[] };
}

export interface OAuthClientSummary {
  clientId: string;
  name: string;
  grantTypes: string[];
  redirectUris: string[];
  scopes: string[];
  authMethod: string;
  createdAt: Date;
}

/** What oidc-provider's Client model loads: RFC 7591 metadata, the secret as its SHA-256 (hex). */
export type ProviderClientMetadata = Record<string, unknown> & { client_id: string };

export interface ClientRegistry {
  create(input: NewOAuthClient): Promise<{ clientId: string; secret: string | undefined }>;
  list(): Promise<OAuthClientSummary[]>;
  /** A new secret; the old one stops working at once. */
  rotateSecret(clientId: string): Promise<string>;
  remove(clientId: string): Promise<boolean>;
  /** From the primary: a deleted client or a rotated secret must not authenticate anywhere. */
  find(clientId: string): Promise<ProviderClientMetadata | undefined>;
}

const MAX_NAME = 100;
const MAX_URIS = 10;
const MAX_URI_LENGTH = 2000;
const MAX_SCOPES = 20;
// RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,64}$/;
const CLIENT_ID = /^c_[A-Za-z0-9_-]{22}$/;

function checkRedirectUri(uri: string, label: string): void {
  if (uri.length > MAX_URI_LENGTH) throw invalidArgument(`${label} is longer than ${MAX_URI_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw invalidArgument(`${label} "${uri.slice(0, 100)}" is not an absolute URL`);
  }
  // RFC 6749 3.1.2: no fragment; RFC 9700 2.1: exact match, so no wildcards either.
  if (url.hash) throw invalidArgument(`${label} must not have a fragment`);
  if (uri.includes("*")) throw invalidArgument(`${label} must not contain a wildcard`);
}

function validate(input: NewOAuthClient): void {
  const name = input.name.trim();
  if (name === "" || name.length > MAX_NAME || /[\u0000-\u001f\u007f]/.test(name)) throw invalidArgument(`name must be 1-${MAX_NAME} printable characters`);
  if (input.grantTypes.length === 0) throw invalidArgument(`at least one grant type is needed (${OAUTH_GRANT_TYPES.join(", ")})`);
  for (const grant of input.grantTypes) {
    if (!(OAUTH_GRANT_TYPES as readonly string[]).includes(grant)) throw invalidArgument(`unknown grant type "${grant.slice(0, 50)}": one of ${OAUTH_GRANT_TYPES.join(", ")}`);
  }
  const has = (grant: OAuthGrantType) => input.grantTypes.includes(grant);
  if (has("authorization_code") && input.redirectUris.length === 0) throw invalidArgument("authorization_code needs at least one redirect URI");
  if (has("refresh_token") && !has("authorization_code")) throw invalidArgument("refresh_token comes only with authorization_code");
  if (input.public && has("client_credentials")) throw invalidArgument("a public client cannot use client_credentials: it has no credentials");
  if (input.public && input.jwks) throw invalidArgument("a public client has no keys (private_key_jwt is for confidential clients)");
  if (input.redirectUris.length > MAX_URIS || (input.postLogoutRedirectUris?.length ?? 0) > MAX_URIS) throw invalidArgument(`at most ${MAX_URIS} redirect URIs`);
  input.redirectUris.forEach((uri) => checkRedirectUri(uri, "redirect URI"));
  input.postLogoutRedirectUris?.forEach((uri) => checkRedirectUri(uri, "post-logout redirect URI"));
  if (input.scopes.length > MAX_SCOPES) throw invalidArgument(`at most ${MAX_SCOPES} scopes`);
  for (const scope of input.scopes) if (!SCOPE_TOKEN.test(scope)) throw invalidArgument(`scope "${scope.slice(0, 64)}" is not a valid scope token (RFC 6749 3.3)`);
  if (input.jwks) {
    const keys = input.jwks.keys;
    if (!Array.isArray(keys) || keys.length === 0 || keys.length > 5) throw invalidArgument("jwks must hold 1-5 public keys");
    for (const key of keys) if (typeof key !== "object" || key === null || "d" in key || typeof key.kty !== "string") throw invalidArgument("jwks must hold public keys only");
  }
}

function authMethodOf(input: NewOAuthClient): string {
  if (input.public) return "none";
  return input.jwks ? "private_key_jwt" : "client_secret_basic";
}

interface ClientRow {
  client_id: string;
  name: string;
  secret_sha256: Buffer | null;
  metadata: Record<string, unknown>;
  created_at: Date;
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : []);

const notFound = () => new DomainError("not_found", "no such OAuth client");

/** OAuth clients on the primary (oauth_clients). */
export function createClientRegistry(primary: pg.Pool): ClientRegistry {
  return {
    async create(input) {
      validate(input);
      const clientId = newClientId();
      const authMethod = authMethodOf(input);
      const secret = authMethod === "client_secret_basic" ? newClientSecret() : undefined;
      const has = (grant: OAuthGrantType) => input.grantTypes.includes(grant);
      const metadata = {
        client_name: input.name.trim(),
        grant_types: [...new Set(input.grantTypes)],
        response_types: has("authorization_code") ? ["code"] : [],
        redirect_uris: input.redirectUris,
        post_logout_redirect_uris: input.postLogoutRedirectUris ?? [],
        scope: [...new Set(input.scopes)].join(" "),
        token_endpoint_auth_method: authMethod,
        ...(input.jwks ? { jwks: { keys: input.jwks.keys } } : {}),
      };
      await primary.query("INSERT INTO oauth_clients (client_id, name, secret_sha256, metadata) VALUES ($1, $2, $3, $4)", [
        clientId,
        input.name.trim(),
        secret?.sha256 ?? null,
        JSON.stringify(metadata),
      ]);
      return { clientId, secret: secret?.secret };
    },

    async list() {
      const rows = (await primary.query<ClientRow>("SELECT client_id, name, secret_sha256, metadata, created_at FROM oauth_clients ORDER BY created_at, client_id")).rows;
      return rows.map((row) => ({
        clientId: row.client_id,
        name: row.name,
        grantTypes: strings(row.metadata.grant_types),
        redirectUris: strings(row.metadata.redirect_uris),
        scopes: typeof row.metadata.scope === "string" && row.metadata.scope !== "" ? row.metadata.scope.split(" ") : [],
        authMethod: String(row.metadata.token_endpoint_auth_method),
        createdAt: row.created_at,
      }));
    },

    async rotateSecret(clientId) {
      if (!CLIENT_ID.test(clientId)) throw notFound();
      const secret = newClientSecret();
      const result = await primary.query(
        "UPDATE oauth_clients SET secret_sha256 = $2, secret_rotated_at = now() WHERE client_id = $1 AND secret_sha256 IS NOT NULL",
        [clientId, secret.sha256],
      );
      if (result.rowCount === 0) throw new DomainError("not_found", "no such OAuth client with a secret");
      return secret.secret;
    },

    async remove(clientId) {
      if (!CLIENT_ID.test(clientId)) return false;
      const result = await primary.query("DELETE FROM oauth_clients WHERE client_id = $1", [clientId]);
      await primary.query("DELETE FROM oauth_artifacts WHERE payload->>'clientId' = $1", [clientId]);
      return (result.rowCount ?? 0) > 0;
    },

    async find(clientId) {
      if (!CLIENT_ID.test(clientId)) return undefined;
      const row = (await primary.query<ClientRow>("SELECT client_id, name, secret_sha256, metadata, created_at FROM oauth_clients WHERE client_id = $1", [clientId])).rows[0];
      if (!row) return undefined;
      return { ...row.metadata, client_id: row.client_id, ...(row.secret_sha256 ? { client_secret: row.secret_sha256.toString("hex") } : {}) };
    },
  };
}
