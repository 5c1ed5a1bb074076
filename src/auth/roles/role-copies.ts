import type { RedisClient } from "../../platform/redis.js";
import { LUA_NOW_MS, REVOCATION_CHANNEL, USER_CHANGED } from "../../contract/session-events.js";
import { decodeUserRoles, encodeUserRoles, userRolesKey, type UserRoles } from "../../contract/session-record.js";
import type { RoleStore } from "./role-store.js";

/**
 * The copy of each user's roles in Redis (user:{<id>}:roles) that the Check reads with the session,
 * and the access token's `roles` claim is taken from. Postgres stays the truth; the copy is refilled
 * from it whenever it is missing.
 */
export interface RoleCopies {
  /** Puts a set read from Postgres in place unless a newer one is there, and tells the gateways when it changed. */
  publish(userId: string, roles: UserRoles): Promise<void>;
  /** The user's roles for a token being issued: the copy (kept alive), or Postgres when there is none. */
  rolesOf(userId: string): Promise<string[]>;
  /**
   * Drops the copy and tells the gateways: until it is refilled from Postgres (the next publish, or a
   * token issued), the Check sees no roles. Done before a role is taken away, so a publish that fails
   * after the commit leaves the user with fewer roles, never with the removed one.
   */
  drop(userId: string): Promise<void>;
}

export interface RoleCopiesDeps {
  redis: RedisClient;
  store: Pick<RoleStore, "current">;
  /** As long as the longest session: a copy read with a session must outlive it (SESSION_ABSOLUTE_TTL). */
  ttlMs: number;
}

// A newer or equal version replaces the copy (equal: the same set, its lifetime renewed); an older one
// never does, so of two writers racing, the later change wins whichever lands last. Gateways hear of a change.
const PUBLISH = `
local cur = redis.call('GET', KEYS[1])
local curVersion = nil
if cur then curVersion = tonumber(string.match(cur, '^(%d+)')) end
local version = tonumber(ARGV[1])
if curVersion ~= nil and curVersion > version then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if curVersion ~= version then
  redis.call('PUBLISH', ARGV[4], cjson.encode({type = '${USER_CHANGED}', userId = ARGV[5], atMs = ${LUA_NOW_MS}}))
end
return 1
`;

const DROP = `
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], cjson.encode({type = '${USER_CHANGED}', userId = ARGV[2], atMs = ${LUA_NOW_MS}}))
return 1
`;

const READ_AND_RENEW = `
local cur = redis.call('GET', KEYS[1])
if cur then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return cur
`;

export function createRoleCopies(deps: RoleCopiesDeps): RoleCopies {
  const { redis } = deps;
  async function publish(userId: string, roles: UserRoles): Promise<void> {
    await redis.eval(PUBLISH, 1, userRolesKey(userId), roles.version, encodeUserRoles(roles), deps.ttlMs, REVOCATION_CHANNEL, userId);
  }
  return {
    publish,
    async rolesOf(userId) {
      const copy = decodeUserRoles((await redis.eval(READ_AND_RENEW, 1, userRolesKey(userId), deps.ttlMs)) as string | null);
      if (copy) return copy.roles;
      const current = await deps.store.current(userId);
      if (!current) return [];
      await publish(userId, current);
      return current.roles;
    },
    async drop(userId) {
      await redis.eval(DROP, 1, userRolesKey(userId), REVOCATION_CHANNEL, userId);
    },
  };
}
