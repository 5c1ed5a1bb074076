import { createHash } from "node:crypto";
import type { RedisClient } from "../../platform/redis.js";

/** What a WebAuthn challenge was issued for; the response must come back for the same thing. */
export type ChallengePurpose =
  | { kind: "register"; userId: string; sessionId: string }
  | { kind: "signin" }
  | { kind: "second_factor"; mfaChallenge: string };

export interface WebAuthnChallenges {
  /** Remembers a challenge (the base64url string the options carry) for `ttlMs`. */
  issue(challenge: string, purpose: ChallengePurpose): Promise<void>;
  /**
   * Takes the challenge: its purpose the first time, undefined ever after and on every other
   * instance (one GETDEL), so a captured response cannot be replayed.
   */
  take(challenge: string): Promise<ChallengePurpose | undefined>;
}

const CHALLENGE = /^[A-Za-z0-9_-]{16,128}$/;
const key = (challenge: string) => `webauthn:challenge:${createHash("sha256").update(challenge).digest("base64url")}`;

export function createWebAuthnChallenges(deps: { redis: RedisClient; ttlMs: number }): WebAuthnChallenges {
  return {
    async issue(challenge, purpose) {
      await deps.redis.set(key(challenge), JSON.stringify(purpose), "PX", deps.ttlMs);
    },
    async take(challenge) {
      if (!CHALLENGE.test(challenge)) return undefined;
      const stored = await deps.redis.getdel(key(challenge));
      return stored ? (JSON.parse(stored) as ChallengePurpose) : undefined;
    },
  };
}
