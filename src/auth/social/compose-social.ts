import type pg from "pg";
import { enqueueMail } from "../mail/mail.js";
import type { RedisClient } from "../../platform/redis.js";
import type { MailTemplates } from "../mail/templates.js";
import type { SessionRevocations } from "../sessions/session-revocations.js";
import { createPendingFlows } from "./pending-flows.js";
import { createPgIdentityStore } from "./pg-identity-store.js";
import { createProviderClient } from "./provider-client.js";
import type { SocialConfig } from "./social-config.js";
import { createSocialService, type ConfiguredProvider, type SocialServiceDeps } from "./social-service.js";

// A person signing in at a provider (a password, a second factor there, a consent) is done well within this.
const FLOW_TTL_MS = 10 * 60_000;

export interface ComposeSocialDeps extends Omit<SocialServiceDeps, "providers" | "identities" | "flows" | "queueMail" | "linkTtlMs"> {
  config: SocialConfig;
  publicBaseUrl: string;
  primary: pg.Pool;
  redis: RedisClient;
  revocations: Pick<SessionRevocations, "record" | "apply">;
  templates: Pick<MailTemplates, "linkSocialSignIn" | "securityNotice">;
}

/** The social sign-in service from its config: one openid-client per provider, identities on the primary, flows in Redis. */
export function composeSocialService(deps: ComposeSocialDeps) {
  const { config, publicBaseUrl, primary, redis, ...rest } = deps;
  const providers = new Map<string, ConfiguredProvider>(
    config.providers.map((provider) => {
      const redirectUri = `${publicBaseUrl}/signin/social/${provider.id}/callback`;
      return [provider.id, { provider, redirectUri, client: createProviderClient(provider, redirectUri) }];
    }),
  );
  return createSocialService({
    ...rest,
    providers,
    identities: createPgIdentityStore({ primary, revocations: rest.revocations, templates: rest.templates }),
    flows: createPendingFlows({ redis, ttlMs: FLOW_TTL_MS }),
    queueMail: (mail) => enqueueMail(primary, mail),
    linkTtlMs: FLOW_TTL_MS,
  });
}
