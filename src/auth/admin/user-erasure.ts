import type { RedisClient } from "../../platform/redis.js";
import { userSessionsKey } from "../../contract/session-record.js";
import type { Clock } from "../../platform/clock.js";
import { accountCounterKeys } from "../abuse/abuse-protection.js";
import { lockoutKeys } from "../abuse/sign-in-lockout.js";
import { eraseChallengesOf } from "../mfa/sign-in-challenges.js";
import { readYourWritesKey } from "../../platform/replica-reads.js";
import type { RoleCopies } from "../roles/role-copies.js";
import type { SessionStore } from "../sessions/session-store.js";
import type { CachedUserStore } from "../users/cached-user-store.js";
import type { AdminStore } from "./admin-store.js";
import type { AccountRef } from "../lifecycle/account-writes.js";

export interface UserErasureDeps {
  redis: RedisClient;
  store: Pick<AdminStore, "erase">;
  sessions: Pick<SessionStore, "revokeCreatedBefore">;
  users: Pick<CachedUserStore, "forget">;
  roles: Pick<RoleCopies, "drop">;
  clock: Clock;
}

/**
 * Deletes an account everywhere. Its sessions end before the row goes (if Redis cannot take that,
 * nothing is deleted) and again after the commit, with the cutoff at that moment: a sign-in that read
 * the row before the delete began before the second cutoff, so the session it opens is born revoked.
 * That cutoff (user:{<id>}:revoked_before, a time under an id that now names nobody) is what stays in
 * Redis, for the absolute session TTL; everything else kept for the account is deleted.
 */
export async function eraseUser(deps: UserErasureDeps, userId: string, pseudonym: string): Promise<AccountRef | undefined> {
  await deps.sessions.revokeCreatedBefore(userId, deps.clock.now());
  const account = await deps.store.erase(userId, pseudonym);
  if (!account) return undefined;
  await deps.sessions.revokeCreatedBefore(userId, deps.clock.now());
  await deps.users.forget(account);
  await deps.roles.drop(userId);
  // One DEL a key: they hash to different cluster slots.
  const keys = [userSessionsKey(userId), readYourWritesKey(userId), ...Object.values(lockoutKeys(account.email)), ...accountCounterKeys(account.email, userId)];
  await Promise.all(keys.map((key) => deps.redis.del(key)));
  await eraseChallengesOf(deps.redis, userId);
  return account;
}
