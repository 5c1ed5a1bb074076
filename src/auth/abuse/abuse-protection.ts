import type { RedisClient } from "../../platform/redis.js";
import type { Clock } from "../../platform/clock.js";
import type { LockoutPolicy, RateLimits } from "../config.js";
import { clientNetwork } from "../../platform/client-network.js";
import { counterKey, createRateLimiter, type RateLimiter } from "./rate-limiter.js";
import { createSignInLockout, type SignInLockout } from "./sign-in-lockout.js";

/** Every budget the auth service spends from, one limiter per (operation, subject). */
export interface AbuseProtection {
  /** Failed sign-ins and wrong second factors per client IP. */
  signInIp: RateLimiter;
  lockout: SignInLockout;
  signUpIp: RateLimiter;
  /** Verification mails and notices sent on someone's say-so, keyed on the normalised email whether or not an account has it. */
  mailAccount: RateLimiter;
  /**
   * Reset mails, keyed the same way, apart from mailAccount: each one carries a working link to the
   * mailbox, so spending this budget cannot keep the owner out, while sign-ups or email changes
   * naming the address (which mail it only notices) would, if they shared it.
   */
  mailReset: RateLimiter;
  mailIp: RateLimiter;
  /** Attempts at single-use mailed tokens per IP: guessing them is pointless, but not free. */
  tokenIp: RateLimiter;
  /** Wrong second-factor codes per account. */
  mfaAccount: RateLimiter;
}

export interface AbuseProtectionDeps {
  redis: RedisClient;
  clock: Clock;
  rateLimits: RateLimits;
  lockout: LockoutPolicy;
  /** Told of every request a budget refuses, by the budget's name (metrics). */
  onRefused?: (limiter: string) => void;
}

const MAIL_ACCOUNT = "mail-account";
const MAIL_RESET = "mail-reset";
const MFA_ACCOUNT = "mfa-account";

/** The Redis keys of the budgets kept per account (by address and by id), for erasing them with it. */
export const accountCounterKeys = (email: string, userId: string) => [counterKey(MAIL_ACCOUNT, email), counterKey(MAIL_RESET, email), counterKey(MFA_ACCOUNT, userId)];

export function createAbuseProtection(deps: AbuseProtectionDeps): AbuseProtection {
  const { redis, rateLimits: rates } = deps;
  const refused = (name: string) => () => deps.onRefused?.(name);
  const limiter = (name: string, rate: RateLimits[keyof RateLimits]) => createRateLimiter({ redis, name, rate, onRefused: refused(name) });
  // Per-IP budgets count IPv6 clients by their /64.
  const ipLimiter = (name: string, rate: RateLimits[keyof RateLimits]) => createRateLimiter({ redis, name, rate, keyOf: clientNetwork, onRefused: refused(name) });
  return {
    signInIp: ipLimiter("signin-ip", rates.signInIp),
    lockout: createSignInLockout({ redis, policy: deps.lockout, clock: deps.clock }),
    signUpIp: ipLimiter("signup-ip", rates.signUpIp),
    mailAccount: limiter(MAIL_ACCOUNT, rates.mailAccount),
    mailReset: limiter(MAIL_RESET, rates.mailReset),
    mailIp: ipLimiter("mail-ip", rates.mailIp),
    tokenIp: ipLimiter("token-ip", rates.tokenIp),
    mfaAccount: limiter(MFA_ACCOUNT, rates.mfaAccount),
  };
}
