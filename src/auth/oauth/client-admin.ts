import type { ClientRegistry, NewOAuthClient, OAuthClientSummary } from "./client-registry.js";
import type { GrantSessions } from "./grant-sessions.js";

/** What an operator does with OAuth clients, for the CLI (npm run oauth) and the admin RPC alike. */
export interface ClientAdmin {
  create(input: NewOAuthClient): Promise<{ clientId: string; secret: string | undefined }>;
  list(): Promise<OAuthClientSummary[]>;
  rotateSecret(clientId: string): Promise<string>;
  /** Ends every session the client's grants rest on (the gateway denies their tokens at once), then deletes it. */
  remove(clientId: string): Promise<boolean>;
}

export function createClientAdmin(deps: { registry: ClientRegistry; grants: GrantSessions }): ClientAdmin {
  return {
    create: (input) => deps.registry.create(input),
    list: () => deps.registry.list(),
    rotateSecret: (clientId) => deps.registry.rotateSecret(clientId),
    async remove(clientId) {
      await deps.grants.revokeClient(clientId);
      return deps.registry.remove(clientId);
    },
  };
}
