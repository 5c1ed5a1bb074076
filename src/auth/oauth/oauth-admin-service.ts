import { timingSafeEqual } from "node:crypto";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { OAuthAdminService } from "../../gen/auth/oauth/v1/oauth_admin_pb.js";
import { DomainError, invalidArgument } from "../../platform/errors.js";
import type { ClientAdmin } from "./client-admin.js";

const MAX_JWKS_JSON = 16 * 1024;

/** auth.oauth.v1.OAuthAdminService over the same ClientAdmin as `npm run oauth`. */
export function createOAuthAdminService(deps: { admin: ClientAdmin; adminToken: string | undefined }): ServiceImpl<typeof OAuthAdminService> {
  const expected = deps.adminToken === undefined ? undefined : Buffer.from(deps.adminToken);

  function authorize(context: HandlerContext): void {
    if (!expected) throw new DomainError("permission_denied", "the OAuth admin API is off (OAUTH_ADMIN_TOKEN is not set)");
    // RFC 6750 2.1; not parseBearer, which takes our JWTs only.
    const header = context.requestHeader.get("authorization") ?? "";
    const presented = Buffer.from(header.length <= 1024 ? (/^bearer +(\S+)$/i.exec(header.trim())?.[1] ?? "") : "");
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) throw new DomainError("unauthenticated", "invalid admin token");
  }

  function jwksOf(json: string) {
    if (json === "") return undefined;
    if (json.length > MAX_JWKS_JSON) throw invalidArgument(`jwks_json is longer than ${MAX_JWKS_JSON} characters`);
    try {
      return JSON.parse(json) as { keys: never[] };
    } catch {
      throw invalidArgument("jwks_json is not valid JSON");
    }
  }

  return {
    async createClient(req, context) {
      authorize(context);
      const jwks = jwksOf(req.jwksJson);
      const created = await deps.admin.create({
        name: req.name,
        grantTypes: req.grantTypes,
        redirectUris: req.redirectUris,
        postLogoutRedirectUris: req.postLogoutRedirectUris,
        scopes: req.scopes,
        public: req.public,
        ...(jwks ? { jwks } : {}),
      });
      return { clientId: created.clientId, clientSecret: created.secret ?? "" };
    },
    async listClients(_req, context) {
      authorize(context);
      const clients = await deps.admin.list();
      return {
        clients: clients.map((c) => ({ clientId: c.clientId, name: c.name, grantTypes: c.grantTypes, redirectUris: c.redirectUris, scopes: c.scopes, tokenEndpointAuthMethod: c.authMethod })),
      };
    },
    async rotateClientSecret(req, context) {
      authorize(context);
      return { clientSecret: await deps.admin.rotateSecret(req.clientId) };
    },
    async deleteClient(req, context) {
      authorize(context);
      if (!(await deps.admin.remove(req.clientId))) throw new DomainError("not_found", "no such OAuth client");
      return {};
    },
  };
}
