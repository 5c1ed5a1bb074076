import { LUA_NOW_MS, REVOCATION_CHANNEL, SESSION_CHANGED, SESSION_REVOKED, USER_SESSIONS_REVOKED } from "../../contract/session-events.js";
import {
  FIELD,
  MAX_USER_AGENT_LENGTH,
  READ_FIELDS,
  READ_FIELDS_LUA,
  decodeRevokedBefore,
  decodeSession,
  encodeRevokedBefore,
  revokedBeforeKey,
  revokedByMarker,
  rotatedKey,
  sessionKey,
  userSessionsKey,
} from "../../contract/session-record.js";
import { newSessionId, newSessionSecret, parseSessionSecret, SESSION_ID_FORMAT } from "../../contract/session-secret.js";
import type { Clock } from "../../platform/clock.js";
import type { RedisClient } from "../../platform/redis.js";
import type { DurableWrites } from "../../platform/redis-durable.js";
import type { SessionRecord, SessionStore } from "./session-store.js";

export interface RedisSessionStoreDeps {
  redis: RedisClient;
  /** Sign-in, rotation and revocation answer only once a replica holds them (on a cluster; see redis-durable.ts). */
  durable: DurableWrites;
  clock: Clock;
  idleTtlMs: number;
  absoluteTtlMs: number;
  /** A token rotated less than this long ago is refused without revoking the family (concurrent refresh). */
  reuseGraceMs: number;
}

/** Lua's 1-based position of a field in an HMGET of READ_FIELDS. */
const at = (field: (typeof READ_FIELDS)[number]) => READ_FIELDS.indexOf(field) + 1;

// Rotation in one script so that, of two concurrent refreshes, exactly one finds its token current.
// The current hash comes first, then READ_FIELDS: the answer is 'ok' and the session as it now is.
const ROTATE = `
local cur = redis.call('HMGET', KEYS[1], '${FIELD.refreshHash}', ${READ_FIELDS_LUA})
if not cur[1] then return {'invalid'} end
local now = tonumber(ARGV[3])
if cur[1] == ARGV[1] then
  local exp = tonumber(cur[1 + ${at(FIELD.expiresAt)}])
  if exp <= now then return {'invalid'} end
  local ttl = math.min(tonumber(ARGV[4]), exp - now)
  redis.call('HSET', KEYS[1], '${FIELD.refreshHash}', ARGV[2], '${FIELD.lastSeenAt}', ARGV[3])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
  cur[1] = 'ok'
  cur[1 + ${at(FIELD.lastSeenAt)}] = ARGV[3]
  return cur
end
local rotatedAt = redis.call('HGET', KEYS[2], ARGV[1])
if not rotatedAt then return {'invalid'} end
if now - tonumber(rotatedAt) <= tonumber(ARGV[5]) then return {'raced'} end
return {'reused', cur[1 + ${at(FIELD.userId)}]}
`;

const TOUCH = `
local cur = redis.call('HMGET', KEYS[1], ${READ_FIELDS_LUA})
if not cur[${at(FIELD.userId)}] then return nil end
local now = tonumber(ARGV[1])
local exp = tonumber(cur[${at(FIELD.expiresAt)}])
if exp <= now then
  redis.call('DEL', KEYS[1], KEYS[2])
  return nil
end
local ttl = math.min(tonumber(ARGV[2]), exp - now)
redis.call('HSET', KEYS[1], '${FIELD.lastSeenAt}', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
cur[${at(FIELD.lastSeenAt)}] = ARGV[1]
return cur
`;

const REAUTHENTICATED = `
if redis.call('HGET', KEYS[1], '${FIELD.userId}') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], '${FIELD.authTime}', ARGV[2])
return 1
`;

const ATTACH_COOKIE = `
if redis.call('HGET', KEYS[1], '${FIELD.userId}') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], '${FIELD.cookieHash}', ARGV[2])
return 1
`;

const FIND_BY_COOKIE = `
local cur = redis.call('HMGET', KEYS[1], ${READ_FIELDS_LUA})
if not cur[${at(FIELD.userId)}] or cur[${at(FIELD.cookieHash)}] ~= ARGV[1] or tonumber(cur[${at(FIELD.expiresAt)}]) <= tonumber(ARGV[2]) then return nil end
return cur
`;

// Delete and announce together, so no gateway can miss a revocation that took effect. One slot (the
// session's); the caller then drops the id from the user's index, in the user's slot.
// ARGV[4] spares a session created at or after it (a cutoff); plain revocation passes the largest number.
// The answer: 1 deleted, 0 gone or another user's (its id may leave this user's index), -1 spared.
const REVOKE = `
local cur = redis.call('HMGET', KEYS[1], '${FIELD.userId}', '${FIELD.createdAt}')
local uid = cur[1]
if uid ~= ARGV[2] then return 0 end
if tonumber(cur[2]) >= tonumber(ARGV[4]) then return -1 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('PUBLISH', ARGV[3], cjson.encode({type = '${SESSION_REVOKED}', sessionId = ARGV[1], userId = uid, atMs = ${LUA_NOW_MS}}))
return 1
`;

// The two halves of a sign-in, each in its own slot: the session first, then its id in the user's
// index. A session whose index write failed is never returned to anyone (the sign-in fails), and a
// revocation by cutoff covers it anyway; the reverse order would let a revocation that read the index
// in between find no session yet and drop the id of one about to exist.
const CREATE_SESSION = `
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;

const INDEX_SESSION = `
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`;

// Change and announce together, so a gateway cannot keep serving the level it cached before the change.
const MARK_EMAIL_VERIFIED = `
if redis.call('HGET', KEYS[1], '${FIELD.userId}') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], '${FIELD.emailVerified}', '1')
redis.call('PUBLISH', ARGV[3], cjson.encode({type = '${SESSION_CHANGED}', sessionId = ARGV[1], userId = ARGV[2], atMs = ${LUA_NOW_MS}}))
return 1
`;

// One write puts the cutoff in force for every reader; a newer cutoff already there stays.
const SET_REVOKED_BEFORE = `
local cur = redis.call('GET', KEYS[1])
local curMs = nil
if cur then curMs = tonumber(string.match(cur, '^(%d+)')) end
if curMs == nil or curMs < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
redis.call('PUBLISH', ARGV[4], cjson.encode({type = '${USER_SESSIONS_REVOKED}', userId = ARGV[5], beforeMs = tonumber(ARGV[1]), atMs = ${LUA_NOW_MS}}))
return 1
`;

const NO_CUTOFF = Number.MAX_SAFE_INTEGER;

/**
 * How stale `lastSeenAt` may get before a use writes it and slides the idle expiry again: a minute,
 * or a tenth of the idle TTL if that is shorter. Writing on every call made each authenticated RPC a
 * Redis write; this way a session in use still never idles out, and one left alone ends at most
 * this much before idleTtl after its last use, never after.
 */
const slideInterval = (idleTtlMs: number) => Math.min(60_000, idleTtlMs / 10);

function toRecord(id: string, values: readonly (string | null)[]): SessionRecord | undefined {
  const stored = decodeSession(values);
  if (!stored) return undefined;
  return {
    id,
    userId: stored.userId,
    createdAt: new Date(stored.createdAtMs),
    lastSeenAt: new Date(stored.lastSeenAtMs),
    expiresAt: new Date(stored.expiresAtMs),
    userAgent: stored.userAgent,
    ip: stored.ip,
    acr: stored.acr,
    emailVerified: stored.emailVerified,
    authTime: new Date(stored.authTimeMs),
  };
}

/** The session layout of src/contract/session-record.ts, which the authz server reads. */
export function createRedisSessionStore(deps: RedisSessionStoreDeps): SessionStore {
  const { redis, clock, durable } = deps;
  const slideEveryMs = slideInterval(deps.idleTtlMs);

  async function revoke(sessionId: string, userId: string, beforeMs = NO_CUTOFF): Promise<boolean> {
    const removed = await durable.write(["eval", REVOKE, 2, sessionKey(sessionId), rotatedKey(sessionId), sessionId, userId, REVOCATION_CHANNEL, beforeMs]);
    // Only tidying: a stale id in the index names a session that is gone, and every reader skips it.
    if (removed !== -1) await redis.zrem(userSessionsKey(userId), sessionId).catch(() => {});
    return removed === 1;
  }

  /**
   * The record, unless the user's cutoff revokes it (a second single-key read; see session-record.ts).
   * A session found that way is deleted too, so a cutoff whose deletes were cut short finishes here.
   */
  async function unlessRevoked(record: SessionRecord | undefined): Promise<SessionRecord | undefined> {
    return record && unlessMarked(record, await redis.get(revokedBeforeKey(record.userId)));
  }

  async function unlessMarked(record: SessionRecord, markerValue: string | null): Promise<SessionRecord | undefined> {
    const marker = decodeRevokedBefore(markerValue);
    if (!revokedByMarker(marker, record.id, record.createdAt.getTime())) return record;
    await revoke(record.id, record.userId, marker!.beforeMs);
    return undefined;
  }

  async function liveSessionIds(userId: string): Promise<string[]> {
    return redis.zrangebyscore(userSessionsKey(userId), String(clock.now()), "+inf");
  }

  return {
    async create({ userId, userAgent, ip, secondFactor, emailVerified, fingerprint, provenAt }) {
      const now = clock.now();
      const id = newSessionId();
      // Measured from the proof, like the revocation marker it must not outlive (it lasts absoluteTtlMs from a cutoff after the proof).
      const exp = provenAt + deps.absoluteTtlMs;
      const acr = secondFactor ? "mfa" : "basic";
      const refresh = newSessionSecret(id);
      const ttl = Math.min(deps.idleTtlMs, deps.absoluteTtlMs);
      const ua = userAgent.slice(0, MAX_USER_AGENT_LENGTH);
      const fields: Record<string, string | number> = {
        [FIELD.userId]: userId,
        [FIELD.createdAt]: provenAt,
        [FIELD.lastSeenAt]: now,
        [FIELD.expiresAt]: exp,
        [FIELD.userAgent]: ua,
        [FIELD.ip]: ip,
        [FIELD.acr]: acr,
        [FIELD.emailVerified]: emailVerified ? "1" : "0",
        [FIELD.refreshHash]: refresh.hash,
        [FIELD.authTime]: provenAt,
        ...(fingerprint === undefined ? {} : { [FIELD.fingerprint]: fingerprint }),
      };
      await durable.write(["eval", CREATE_SESSION, 1, sessionKey(id), ttl, ...Object.entries(fields).flat()]);
      try {
        await durable.write(["eval", INDEX_SESSION, 1, userSessionsKey(userId), exp, id, now, deps.absoluteTtlMs]);
      } catch (error) {
        await redis.del(sessionKey(id)).catch(() => {});
        throw error;
      }
      return {
        session: {
          id,
          userId,
          createdAt: new Date(provenAt),
          lastSeenAt: new Date(now),
          expiresAt: new Date(exp),
          userAgent: ua,
          ip,
          acr,
          emailVerified,
          authTime: new Date(provenAt),
        },
        refreshToken: refresh.value,
        refreshExpiresAt: new Date(now + ttl),
      };
    },

    async rotate(refreshToken) {
      const parsed = parseSessionSecret(refreshToken);
      if (!parsed) return { outcome: "invalid" };
      const id = parsed.sessionId;
      const now = clock.now();
      const next = newSessionSecret(id);
      const reply = await durable.write(["eval", ROTATE, 2, sessionKey(id), rotatedKey(id), parsed.hash, next.hash, now, deps.idleTtlMs, deps.reuseGraceMs]);
      const [outcome, ...rest] = reply as (string | null)[];
      if (outcome === "ok") {
        const session = await unlessRevoked(toRecord(id, rest));
        if (!session) return { outcome: "invalid" };
        return {
          outcome: "ok",
          session,
          refreshToken: next.value,
          refreshExpiresAt: new Date(Math.min(now + deps.idleTtlMs, session.expiresAt.getTime())),
        };
      }
      if (outcome === "reused" && rest[0]) return { outcome: "reused", sessionId: id, userId: rest[0] };
      if (outcome === "raced") return { outcome: "raced" };
      return { outcome: "invalid" };
    },

    async touch(sessionId, userId) {
      if (!SESSION_ID_FORMAT.test(sessionId)) return undefined;
      const now = clock.now();
      // Every authenticated call comes here: the session and the user's cutoff read at once (two slots,
      // one wait), and a write only when the session is past its end or its slide is due. Both reads
      // start after the call did, so a revocation acknowledged before it is seen.
      const [values, marker] = await Promise.all([redis.hmget(sessionKey(sessionId), ...READ_FIELDS), redis.get(revokedBeforeKey(userId))]);
      const read = toRecord(sessionId, values);
      if (!read || read.userId !== userId) return undefined;
      if (read.expiresAt.getTime() > now && now - read.lastSeenAt.getTime() < slideEveryMs) return unlessMarked(read, marker);
      const slid = toRecord(sessionId, ((await redis.eval(TOUCH, 2, sessionKey(sessionId), rotatedKey(sessionId), now, deps.idleTtlMs)) as (string | null)[] | null) ?? []);
      return slid && unlessMarked(slid, marker);
    },

    async listForUser(userId) {
      const ids = await liveSessionIds(userId);
      if (ids.length === 0) return [];
      // One read each: the sessions live in as many slots as they have ids.
      const replies = await Promise.all(ids.map((id) => redis.hmget(sessionKey(id), ...READ_FIELDS)));
      const sessions: SessionRecord[] = [];
      const gone: string[] = [];
      ids.forEach((id, i) => {
        const record = toRecord(id, replies[i] ?? []);
        if (record && record.userId === userId) sessions.push(record);
        else gone.push(id);
      });
      // Sessions that ended by idle expiry leave their id behind in the index.
      if (gone.length > 0) await redis.zrem(userSessionsKey(userId), ...gone);
      const marker = decodeRevokedBefore(await redis.get(revokedBeforeKey(userId)));
      return sessions
        .filter((s) => !revokedByMarker(marker, s.id, s.createdAt.getTime()))
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    },

    async attachCookie(sessionId, userId) {
      if (!SESSION_ID_FORMAT.test(sessionId)) return undefined;
      const cookie = newSessionSecret(sessionId);
      const attached = await redis.eval(ATTACH_COOKIE, 1, sessionKey(sessionId), userId, cookie.hash);
      return attached === 1 ? cookie.value : undefined;
    },

    async findByCookie(sessionId, cookieHash) {
      if (!SESSION_ID_FORMAT.test(sessionId)) return undefined;
      const values = (await redis.eval(FIND_BY_COOKIE, 1, sessionKey(sessionId), cookieHash, clock.now())) as (string | null)[] | null;
      return values ? unlessRevoked(toRecord(sessionId, values)) : undefined;
    },

    revoke: (sessionId, userId) => (SESSION_ID_FORMAT.test(sessionId) ? revoke(sessionId, userId) : Promise.resolve(false)),

    async revokeAllForUser(userId, keep) {
      const ids = await redis.zrange(userSessionsKey(userId), "0", "-1");
      const results = await Promise.all(ids.filter((id) => id !== keep).map((id) => revoke(id, userId)));
      return results.filter(Boolean).length;
    },

    async markReauthenticated(sessionId, userId) {
      if (!SESSION_ID_FORMAT.test(sessionId)) return false;
      return (await redis.eval(REAUTHENTICATED, 1, sessionKey(sessionId), userId, clock.now())) === 1;
    },

    async revokeCreatedBefore(userId, beforeMs, keep) {
      const marker = encodeRevokedBefore({ beforeMs, keepSessionId: keep });
      await durable.write(["eval", SET_REVOKED_BEFORE, 1, revokedBeforeKey(userId), beforeMs, marker, deps.absoluteTtlMs, REVOCATION_CHANNEL, userId]);
      const ids = await redis.zrange(userSessionsKey(userId), "0", "-1");
      const results = await Promise.all(ids.filter((id) => id !== keep).map((id) => revoke(id, userId, beforeMs)));
      return results.filter(Boolean).length;
    },

    async markEmailVerified(userId) {
      const ids = await liveSessionIds(userId);
      await Promise.all(ids.map((id) => redis.eval(MARK_EMAIL_VERIFIED, 1, sessionKey(id), id, userId, REVOCATION_CHANNEL)));
    },
  };
}
