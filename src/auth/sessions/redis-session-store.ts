import type { Redis } from "ioredis";
import type { Clock } from "../../platform/clock.js";
import { hashRefreshToken, newRefreshToken, newSessionCookie, newSessionId, parseRefreshToken, SESSION_ID_FORMAT } from "./refresh-token.js";
import { REVOCATION_CHANNEL, type SessionRecord, type SessionStore } from "./session-store.js";

export interface RedisSessionStoreDeps {
  redis: Redis;
  clock: Clock;
  idleTtlMs: number;
  absoluteTtlMs: number;
  /** A token rotated less than this long ago is refused without revoking the family (concurrent refresh). */
  reuseGraceMs: number;
}

const sessionKey = (id: string) => `session:{${id}}`;
const rotatedKey = (id: string) => `session:{${id}}:rotated`;
const userKey = (userId: string) => `user:{${userId}}:sessions`;

// `acr` is "mfa" or "basic", `ev` "1" once the email is verified: the authz session lookup reads both.
const FIELDS = ["uid", "created", "seen", "exp", "ua", "ip", "acr", "ev"] as const;

// Rotation in one script so that, of two concurrent refreshes, exactly one finds its token current.
const ROTATE = `
local cur = redis.call('HMGET', KEYS[1], 'rt', 'exp', 'uid', 'created', 'ua', 'ip', 'acr', 'ev')
if not cur[1] then return {'invalid'} end
local now = tonumber(ARGV[3])
if cur[1] == ARGV[1] then
  local exp = tonumber(cur[2])
  if exp <= now then return {'invalid'} end
  local ttl = math.min(tonumber(ARGV[4]), exp - now)
  redis.call('HSET', KEYS[1], 'rt', ARGV[2], 'seen', ARGV[3])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
  return {'ok', cur[3], cur[4], ARGV[3], cur[2], cur[5], cur[6], cur[7], cur[8]}
end
local rotatedAt = redis.call('HGET', KEYS[2], ARGV[1])
if not rotatedAt then return {'invalid'} end
if now - tonumber(rotatedAt) <= tonumber(ARGV[5]) then return {'raced'} end
return {'reused', cur[3]}
`;

const TOUCH = `
local cur = redis.call('HMGET', KEYS[1], 'uid', 'created', 'seen', 'exp', 'ua', 'ip', 'acr', 'ev')
if not cur[1] then return nil end
local now = tonumber(ARGV[1])
local exp = tonumber(cur[4])
if exp <= now then
  redis.call('DEL', KEYS[1], KEYS[2])
  return nil
end
local ttl = math.min(tonumber(ARGV[2]), exp - now)
redis.call('HSET', KEYS[1], 'seen', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
cur[3] = ARGV[1]
return cur
`;

const ATTACH_COOKIE = `
if redis.call('HGET', KEYS[1], 'uid') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'ck', ARGV[2])
return 1
`;

const FIND_BY_COOKIE = `
local cur = redis.call('HMGET', KEYS[1], 'uid', 'created', 'seen', 'exp', 'ua', 'ip', 'acr', 'ev', 'ck')
if not cur[1] or cur[9] ~= ARGV[1] or tonumber(cur[4]) <= tonumber(ARGV[2]) then return nil end
cur[9] = nil
return cur
`;

// Delete and announce together, so no gateway can miss a revocation that took effect.
const REVOKE = `
local uid = redis.call('HGET', KEYS[1], 'uid')
redis.call('ZREM', KEYS[3], ARGV[1])
if uid ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('PUBLISH', ARGV[3], cjson.encode({type = 'session.revoked', sessionId = ARGV[1], userId = uid}))
return 1
`;

// Change and announce together, so a gateway cannot keep serving the level it cached before the change.
const MARK_EMAIL_VERIFIED = `
if redis.call('HGET', KEYS[1], 'uid') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'ev', '1')
redis.call('PUBLISH', ARGV[3], cjson.encode({type = 'session.changed', sessionId = ARGV[1], userId = ARGV[2]}))
return 1
`;

function toRecord(id: string, values: (string | null)[]): SessionRecord | undefined {
  const [uid, created, seen, exp, ua, ip, acr, ev] = values;
  if (!uid || !created || !exp) return undefined;
  return {
    id,
    userId: uid,
    createdAt: new Date(Number(created)),
    lastSeenAt: new Date(Number(seen ?? created)),
    expiresAt: new Date(Number(exp)),
    userAgent: ua ?? "",
    ip: ip ?? "",
    acr: acr === "mfa" ? "mfa" : "basic",
    emailVerified: ev === "1",
  };
}

export function createRedisSessionStore(deps: RedisSessionStoreDeps): SessionStore {
  const { redis, clock } = deps;

  async function revoke(sessionId: string, userId: string): Promise<boolean> {
    const removed = await redis.eval(REVOKE, 3, sessionKey(sessionId), rotatedKey(sessionId), userKey(userId), sessionId, userId, REVOCATION_CHANNEL);
    return removed === 1;
  }

  async function liveSessionIds(userId: string): Promise<string[]> {
    return redis.zrangebyscore(userKey(userId), String(clock.now()), "+inf");
  }

  return {
    async create({ userId, userAgent, ip, secondFactor, emailVerified }) {
      const now = clock.now();
      const id = newSessionId();
      const exp = now + deps.absoluteTtlMs;
      const acr = secondFactor ? "mfa" : "basic";
      const refresh = newRefreshToken(id);
      const ttl = Math.min(deps.idleTtlMs, deps.absoluteTtlMs);
      await redis
        .multi()
        .hset(sessionKey(id), { uid: userId, created: now, seen: now, exp, ua: userAgent.slice(0, 256), ip, acr, ev: emailVerified ? "1" : "0", rt: refresh.hash })
        .pexpire(sessionKey(id), ttl)
        .zadd(userKey(userId), exp, id)
        .zremrangebyscore(userKey(userId), "-inf", now)
        .pexpire(userKey(userId), deps.absoluteTtlMs)
        .exec();
      return {
        session: { id, userId, createdAt: new Date(now), lastSeenAt: new Date(now), expiresAt: new Date(exp), userAgent, ip, acr, emailVerified },
        refreshToken: refresh.token,
        refreshExpiresAt: new Date(now + ttl),
      };
    },

    async rotate(refreshToken) {
      const parsed = parseRefreshToken(refreshToken);
      if (!parsed) return { outcome: "invalid" };
      const id = parsed.sessionId;
      const now = clock.now();
      const next = newRefreshToken(id);
      const result = (await redis.eval(
        ROTATE,
        2,
        sessionKey(id),
        rotatedKey(id),
        hashRefreshToken(refreshToken),
        next.hash,
        now,
        deps.idleTtlMs,
        deps.reuseGraceMs,
      )) as string[];
      const [outcome, ...rest] = result;
      if (outcome === "ok") {
        const session = toRecord(id, rest.slice(0, FIELDS.length));
        if (!session) return { outcome: "invalid" };
        return {
          outcome: "ok",
          session,
          refreshToken: next.token,
          refreshExpiresAt: new Date(Math.min(now + deps.idleTtlMs, session.expiresAt.getTime())),
        };
      }
      if (outcome === "reused" && rest[0]) return { outcome: "reused", sessionId: id, userId: rest[0] };
      if (outcome === "raced") return { outcome: "raced" };
      return { outcome: "invalid" };
    },

    async touch(sessionId) {
      if (!SESSION_ID_FORMAT.test(sessionId)) return undefined;
      const values = (await redis.eval(TOUCH, 2, sessionKey(sessionId), rotatedKey(sessionId), clock.now(), deps.idleTtlMs)) as
        | (string | null)[]
        | null;
      return values ? toRecord(sessionId, values) : undefined;
    },

    async listForUser(userId) {
      const ids = await liveSessionIds(userId);
      if (ids.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const id of ids) pipeline.hmget(sessionKey(id), ...FIELDS);
      const replies = (await pipeline.exec()) ?? [];
      const sessions: SessionRecord[] = [];
      const gone: string[] = [];
      ids.forEach((id, i) => {
        const record = toRecord(id, (replies[i]?.[1] as (string | null)[] | undefined) ?? []);
        if (record && record.userId === userId) sessions.push(record);
        else gone.push(id);
      });
      // Sessions that ended by idle expiry leave their id behind in the index.
      if (gone.length > 0) await redis.zrem(userKey(userId), ...gone);
      return sessions.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    },

    async attachCookie(sessionId, userId) {
      if (!SESSION_ID_FORMAT.test(sessionId)) return undefined;
      const cookie = newSessionCookie(sessionId);
      const attached = await redis.eval(ATTACH_COOKIE, 1, sessionKey(sessionId), userId, cookie.hash);
      return attached === 1 ? cookie.value : undefined;
    },

    async findByCookie(sessionId, cookieHash) {
      if (!SESSION_ID_FORMAT.test(sessionId)) return undefined;
      const values = (await redis.eval(FIND_BY_COOKIE, 1, sessionKey(sessionId), cookieHash, clock.now())) as (string | null)[] | null;
      return values ? toRecord(sessionId, values) : undefined;
    },

    revoke: (sessionId, userId) => (SESSION_ID_FORMAT.test(sessionId) ? revoke(sessionId, userId) : Promise.resolve(false)),

    async revokeAllForUser(userId, keep) {
      const ids = await redis.zrange(userKey(userId), "0", "-1");
      const results = await Promise.all(ids.filter((id) => id !== keep).map((id) => revoke(id, userId)));
      return results.filter(Boolean).length;
    },

    async markEmailVerified(userId) {
      const ids = await liveSessionIds(userId);
      await Promise.all(ids.map((id) => redis.eval(MARK_EMAIL_VERIFIED, 1, sessionKey(id), id, userId, REVOCATION_CHANNEL)));
    },
  };
}
