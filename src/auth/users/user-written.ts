import type { ReplicaReads } from "../../platform/replica-reads.js";
import type { CachedAccount, CachedUserStore } from "./cached-user-store.js";

/** The account a committed write touched; `previousEmail` is the address an email change replaced. */
export type WrittenAccount = CachedAccount & { previousEmail?: string };

/**
 * What every committed write to a user row does next, before it answers. The read-your-writes mark
 * comes first: a profile read that finds the cache dropped must also find the mark, or it could refill
 * the cache from a replica that has not replayed this write. Then the cached copies go, on every
 * instance at once, the replaced address's too (sign-in by it must fail now, not at its entry's TTL).
 */
export function createUserWritten(deps: { ownReads: Pick<ReplicaReads, "wrote">; users: Pick<CachedUserStore, "invalidate"> }) {
  return async (account: WrittenAccount): Promise<void> => {
    await deps.ownReads.wrote(account.id);
    await deps.users.invalidate(account);
    if (account.previousEmail) await deps.users.invalidate({ id: account.id, email: account.previousEmail });
  };
}
