import { randomBytes } from "node:crypto";
import { keyspaceNodes, type RedisClient } from "../../platform/redis.js";
import { TOKEN_FORMAT } from "../lifecycle/account-token.js";
import { hashSessionSecret } from "../../contract/session-secret.js";

/** A password-verified sign-in waiting for its second factor. */
export interface PendingSignIn {
  userId: string;
  email: string;
  /** When SignIn read the password it verified (epoch ms): the session's created time (NewSession.provenAt). */
  provenAt: number;
}

/**
 * Half-finished sign-ins in Redis. The challenge is an opaque random string,
 * not a token: the authenticator does not accept it, so it opens nothing but
 * CompleteSignIn. Stored under its SHA-256 only.
 */
export interface SignInChallenges {
  create(pending: PendingSignIn): Promise<string>;
  get(challenge: string): Promise<PendingSignIn | undefined>;
  /** Counts a wrong code; voids the challenge at the limit. Returns attempts left. */
  fail(challenge: string): Promise<number>;
  /**
   * Takes the challenge for one code check at a time: false while another check holds it. A code is
   * spent only by the check holding the claim, so of two concurrent attempts the loser's code survives.
   */
  claim(challenge: string): Promise<boolean>;
  /** Lets the next check in, after a wrong code. */
  release(challenge: string): Promise<void>;
  /** Ends the challenge (and its claim); true only for the one caller that ended it. */
  consume(challenge: string): Promise<boolean>;
}

export interface SignInChallengesDeps {
  redis: RedisClient;
  ttlMs: number;
  maxAttempts: number;
}

// The same 256-bit random shape as a refresh token's secret, so the same fast hash is enough. Tagged
// by it, so a challenge and its claim share a cluster slot (consume ends both in one transaction).
const key = (challenge: string) => `mfa:challenge:{${hashSessionSecret(challenge)}}`;
const claimKey = (challenge: string) => `${key(challenge)}:claim`;
// Longer than any code check takes; a crashed holder frees the challenge after this.
const CLAIM_MS = 10_000;

// Counts only on a live challenge: HINCRBY on an expired key would recreate it without a TTL.
const FAIL = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = redis.call('HINCRBY', KEYS[1], 'fails', 1)
if n >= tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) end
return tonumber(ARGV[1]) - n
`;

/**
 * Deletes the user's open challenges (their account is erased). Challenges are keyed by their secret
 * alone, so this walks them with SCAN: O(keys) but incremental, and erasure is rare.
 */
export async function eraseChallengesOf(redis: RedisClient, userId: string): Promise<void> {
  // SCAN walks one server: on a cluster, every master's share of the keyspace.
  for (const node of keyspaceNodes(redis)) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", "mfa:challenge:{*}", "COUNT", 1000);
      cursor = next;
      const challenges = keys.filter((k) => !k.endsWith(":claim"));
      const owners = await Promise.all(challenges.map((k) => node.hget(k, "uid").catch(() => null)));
      // A challenge and its claim share a slot, so each pair goes in one DEL.
      await Promise.all(challenges.filter((_, i) => owners[i] === userId).map((k) => node.del(k, `${k}:claim`)));
    } while (cursor !== "0");
  }
}

export function createSignInChallenges(deps: SignInChallengesDeps): SignInChallenges {
  const { redis } = deps;
  return {
    async create(pending) {
      const challenge = randomBytes(32).toString("base64url");
      await redis.multi().hset(key(challenge), "uid", pending.userId, "email", pending.email, "at", pending.provenAt, "fails", 0).pexpire(key(challenge), deps.ttlMs).exec();
      return challenge;
    },
    async get(challenge) {
      if (!TOKEN_FORMAT.test(challenge)) return undefined;
      const [userId, email, at] = await redis.hmget(key(challenge), "uid", "email", "at");
      return userId && email && at ? { userId, email, provenAt: Number(at) } : undefined;
    },
    async fail(challenge) {
      return Math.max(0, Number(await redis.eval(FAIL, 1, key(challenge), deps.maxAttempts)));
    },
    async claim(challenge) {
      return (await redis.set(claimKey(challenge), "1", "PX", CLAIM_MS, "NX")) === "OK";
    },
    async release(challenge) {
      await redis.del(claimKey(challenge));
    },
    async consume(challenge) {
      const [ended] = (await redis.multi().del(key(challenge)).del(claimKey(challenge)).exec()) ?? [];
      return ended?.[1] === 1;
    },
  };
}
