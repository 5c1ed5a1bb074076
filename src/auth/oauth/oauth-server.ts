import type { IncomingMessage, ServerResponse } from "node:http";
import type { Csrf } from "../pages/forms.js";
import type { ServiceImpl } from "@connectrpc/connect";
import type { OAuthAdminService } from "../../gen/auth/oauth/v1/oauth_admin_pb.js";
import { createClientAdmin } from "./client-admin.js";
import { createOAuthAdminService } from "./oauth-admin-service.js";
import { createClientRegistry, type ClientRegistry } from "./client-registry.js";
import { createGrantSessions, type GrantSessions } from "./grant-sessions.js";
import { createInteractions } from "./interactions.js";
import { createOpenIdProvider, type OpenIdProviderDeps } from "./openid-provider.js";
import { createPgReauthMarks, sweepExpiredArtifacts } from "./pg-oauth-adapter.js";

export interface OAuthServerDeps extends Omit<OpenIdProviderDeps, "clients" | "grants"> {
  /** The hosted pages' CSRF protection, for the consent form. */
  csrf: Csrf;
}

export interface OAuthServer {
  clients: ClientRegistry;
  grants: GrantSessions;
  /** auth.oauth.v1.OAuthAdminService. */
  adminService: ServiceImpl<typeof OAuthAdminService>;
  /** True if it answered the request (discovery, /oauth2/...). */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  close(): void;
}

const SWEEP_EVERY_MS = 10 * 60_000;

/** The OpenID Provider and its hosted interactions, as the auth service serves them. */
export function createOAuthServer(deps: OAuthServerDeps): OAuthServer {
  const clients = createClientRegistry(deps.primary);
  const grants = createGrantSessions({ primary: deps.primary, sessions: deps.sessions });
  const op = createOpenIdProvider({ ...deps, clients, grants });
  const interactions = createInteractions({ op, reauth: createPgReauthMarks(deps.primary), sessions: deps.sessions, grants, sessionCookie: deps.sessionCookie, csrf: deps.csrf, log: deps.log });
  const sweep = setInterval(() => {
    sweepExpiredArtifacts(deps.primary).catch((error: unknown) => deps.log.warn({ err: error }, "oauth artifact sweep failed"));
  }, SWEEP_EVERY_MS);
  sweep.unref();
  return {
    clients,
    grants,
    adminService: createOAuthAdminService({ admin: createClientAdmin({ registry: clients, grants }), adminToken: deps.config.adminToken }),
    handle: (req, res) => interactions.handle(req, res) || op.handle(req, res),
    close: () => clearInterval(sweep),
  };
}
