import type { RedisClient } from "../../platform/redis.js";
import type { Clock } from "../../platform/clock.js";
import type { LockoutPolicy } from "../config.js";
import { limiterKey } from "../../contract/limiter-key.js";
import { clientNetwork } from "../../platform/client-network.js";

/**
 * Progressive lockout per email address (existing or not, so it reveals
 * nothing). The rule, documented in the README:
 * - every failed sign-in for the email counts; the count is forgotten
 *   `memoryMs` after the last failure, and cleared by a successful sign-in or
 *   password reset;
 * - from the `threshold`-th consecutive failure on, each failure locks the email
 *   for base * 2^(failures - threshold), at most `maxMs`; the lock ends by itself;
 * - a lock refuses sign-ins from unknown IPs only: an IP that completed a
 *   sign-in for this account in the last 30 days still gets a password check,
 *   so attackers elsewhere cannot lock the owner out of their usual device (an IPv6 device is
 *   its /64: privacy addresses, RFC 8981, rotate within it);
 * - NIST SP 800-63B 5.2.2: after `hardCap` consecutive failures (100) no device
 *   gets another password check until another proof: a password reset by mail
 *   (`clear`). The count then no longer fades after `memoryMs`.
 */
export interface SignInLockout {
  /** Milliseconds left on the lock for a sign-in from `ip`; 0 when not locked for it; "capped" past the hard cap. */
  lockedFor(email: string, ip: string): Promise<number | "capped">;
  /** Counts a failure; returns the length of the lock it started, or 0. */
  recordFailure(email: string): Promise<number>;
  /** Clears failures and lock, and remembers `ip` as a device the owner uses. */
  recordSuccess(email: string, ip: string): Promise<void>;
  /** Clears failures and lock (after a password reset: the owner proved control of the mailbox). */
  clear(email: string): Promise<void>;
}

export interface SignInLockoutDeps {
  redis: RedisClient;
  policy: LockoutPolicy;
  clock: Clock;
}

const KNOWN_DEVICE_MS = 30 * 86_400_000;

// An IPv6 device is its /64, the network its privacy addresses rotate within.
const deviceOf = (ip: string) => limiterKey(clientNetwork(ip));

/** Every key the lockout keeps for an email, for erasing them with its account. */
export const lockoutKeys = (email: string) => {
  const id = limiterKey(email);
  return { fails: `lockout:{${id}}:fails`, lock: `lockout:{${id}}:lock`, known: `lockout:{${id}}:known`, capped: `lockout:{${id}}:capped` };
};

// Count and lock in one script, so concurrent failures on several instances each see a distinct count.
const RECORD_FAILURE = `
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if n >= tonumber(ARGV[5]) then redis.call('SET', KEYS[3], n) end
local threshold = tonumber(ARGV[2])
if n < threshold then return 0 end
local lock = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ (n - threshold))
redis.call('SET', KEYS[2], n, 'PX', math.floor(lock))
return math.floor(lock)
`;

export function createSignInLockout(deps: SignInLockoutDeps): SignInLockout {
  const { redis, policy, clock } = deps;
  return {
    async lockedFor(email, ip) {
      const k = lockoutKeys(email);
      const [ttl, knownAt, capped] = await Promise.all([redis.pttl(k.lock), redis.zscore(k.known, deviceOf(ip)), redis.exists(k.capped)]);
      if (capped === 1) return "capped";
      if (ttl <= 0) return 0;
      if (knownAt !== null && Number(knownAt) > clock.now() - KNOWN_DEVICE_MS) return 0;
      return ttl;
    },
    async recordFailure(email) {
      const k = lockoutKeys(email);
      const lock = await redis.eval(RECORD_FAILURE, 3, k.fails, k.lock, k.capped, policy.memoryMs, policy.threshold, policy.baseMs, policy.maxMs, policy.hardCap);
      return Number(lock);
    },
    async recordSuccess(email, ip) {
      const k = lockoutKeys(email);
      const now = clock.now();
      await redis
        .multi()
        .del(k.fails, k.lock)
        .zadd(k.known, now, deviceOf(ip))
        .zremrangebyscore(k.known, "-inf", now - KNOWN_DEVICE_MS)
        .pexpire(k.known, KNOWN_DEVICE_MS)
        .exec();
    },
    async clear(email) {
      const k = lockoutKeys(email);
      await redis.del(k.fails, k.lock, k.capped);
    },
  };
}
