import { hkdfSync } from "node:crypto";
import { readSharedSettings, type SharedSettings } from "../contract/shared-settings.js";
import { SIGNING_ALGORITHMS, type SigningAlgorithm } from "../contract/access-token-rules.js";
import { readRedisDurability, readRedisTarget, type RedisDurability, type RedisTarget } from "../platform/redis-target.js";
import { ConfigError, EnvReader, LOG_LEVELS, POSTGRES_PROTOCOLS, type Env, type Rate } from "../platform/config.js";
import { readListenerLimits, type ListenerLimits } from "../platform/listener-limits.js";
import { readOAuthConfig, type OAuthConfig } from "./oauth/oauth-config.js";
import { readSocialConfig, type SocialConfig } from "./social/social-config.js";

export interface Argon2Params {
  /** KiB of memory; OWASP minimum for argon2id with t=2 is 19456. */
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}

/** The auth service's settings; `shared` are the ones the authz server reads from the same variables. */
export interface AuthConfig {
  /** AUTH_HOST, default 127.0.0.1. */
  host: string;
  /** AUTH_PORT, default 7001. */
  port: number;
  /** Timeouts, connection and stream caps of the port, and the shutdown grace (listener-limits.ts). */
  listener: ListenerLimits;
  /** DATABASE_URL: writes and fresh reads (PgBouncer in the local stack). Required. */
  databaseUrl: string;
  /** DATABASE_PRIMARY_URL: the primary without a transaction pool, for migrations. Default DATABASE_URL. */
  databasePrimaryUrl: string;
  /** DATABASE_REPLICA_URL: reads that may lag. Default: none, everything reads from DATABASE_URL. */
  databaseReplicaUrl: string | undefined;
  /** REDIS_URL (one node) or REDIS_CLUSTER_NODES (a Redis Cluster's seeds): sessions, revocation events. One is required. */
  redis: RedisTarget;
  /** REDIS_WAIT_REPLICAS, REDIS_WAIT_TIMEOUT: replica acknowledgements sign-in, refresh and revocation wait for (redis-target.ts). */
  redisDurability: RedisDurability;
  shared: SharedSettings;
  /** SIGNING_KEY_ENCRYPTION_KEY: 32 bytes, base64; encrypts private signing keys at rest. Required, no default. */
  signingKeyEncryptionKey: Buffer;
  /** SIGNING_KEY_ALG: EdDSA (default) or ES256. */
  signingKeyAlg: SigningAlgorithm;
  /** SIGNING_KEY_ROTATION: how long a key signs before a new one takes over. Default 30d. */
  signingKeyRotationMs: number;
  /** ACCESS_TOKEN_TTL: default 10m. */
  accessTokenTtlMs: number;
  /** SESSION_IDLE_TTL: a session unused this long ends; also the refresh token lifetime. Default 7d. */
  sessionIdleTtlMs: number;
  /** SESSION_ABSOLUTE_TTL: a session ends this long after sign-in, used or not. Default 30d. */
  sessionAbsoluteTtlMs: number;
  /** PASSWORD_ARGON2_MEMORY_KIB / _ITERATIONS / _PARALLELISM: default 19456 / 2 / 1 (OWASP). */
  argon2: Argon2Params;
  /** MAX_MESSAGE_BYTES: largest request body accepted. Default 65536. */
  maxMessageBytes: number;
  /** TRUSTED_PROXIES: comma-separated peer IPs whose X-Forwarded-For is believed. Default none. */
  trustedProxies: string[];
  /** LOG_LEVEL: default info. */
  logLevel: string;
  /** Per-IP and per-account request budgets; each variable reads "<points>/<duration>", e.g. 5/1h. */
  rateLimits: RateLimits;
  lockout: LockoutPolicy;
  /** VERIFY_EMAIL_TOKEN_TTL: how long a verification link works. Default 24h. */
  verifyEmailTokenTtlMs: number;
  /** RESET_TOKEN_TTL: how long a password reset link works. Default 30m. */
  resetTokenTtlMs: number;
  /** CHANGE_EMAIL_TOKEN_TTL: how long the link confirming a new email address works. Default 1h. */
  changeEmailTokenTtlMs: number;
  /**
   * MFA_ENCRYPTION_KEY: 32 bytes, base64; encrypts TOTP secrets at rest.
   * Default: derived from SIGNING_KEY_ENCRYPTION_KEY by HKDF-SHA256 under a label of its own.
   */
  mfaEncryptionKey: Buffer;
  /** MFA_ISSUER: the issuer shown in authenticator apps. Default auth-platform. */
  mfaIssuer: string;
  /** MFA_CHALLENGE_TTL: how long a half-finished sign-in waits for its second factor. Default 5m. */
  mfaChallengeTtlMs: number;
  /** MFA_CHALLENGE_ATTEMPTS: wrong codes that void a sign-in challenge. Default 5. */
  mfaChallengeAttempts: number;
  /**
   * REAUTH_MAX_AGE: enabling TOTP needs a proof of the user at most this old (sign-in, or the
   * current password in the request). Default 5m (ASVS V3.7.1).
   */
  reauthMaxAgeMs: number;
  /** USER_CACHE_TTL: how long sign-in's user lookup stays in Redis; every write invalidates it sooner. Default 60s. */
  userCacheTtlMs: number;
  /**
   * PROFILE_CACHE: "on" (default) caches GetMe's profile by user id in Redis for USER_CACHE_TTL,
   * dropped by every write to the account; "off" reads it from the database on every call.
   */
  profileCache: boolean;
  /**
   * VERIFIED_TOKEN_CACHE: "on" (default) remembers, per instance, the claims of access tokens whose
   * signature verified, for a minute at most; "off" verifies the signature on every call.
   */
  verifiedTokenCache: boolean;
  /**
   * PASSWORD_BREACH_CHECK_URL, default none (off): a Pwned Passwords range API
   * (https://api.pwnedpasswords.com) consulted by k-anonymity on every new password.
   */
  passwordBreachCheckUrl: string | undefined;
  /** Binds each hosted form's CSRF token to its pre-session: HKDF of SIGNING_KEY_ENCRYPTION_KEY under its own label. */
  csrfKey: Buffer;
  /**
   * AUDIT_PSEUDONYM_KEY (32 bytes, base64), default HKDF of SIGNING_KEY_ENCRYPTION_KEY under its
   * own label: a deleted user's id in the audit trail becomes HMAC-SHA256(key, id) (src/auth/admin/pseudonym.ts).
   */
  auditPseudonymKey: Buffer;
  /**
   * MAX_REPLICA_LAG: a replica further behind the primary than this (in WAL, sampled every second)
   * serves no reads; the primary does. Default 5s.
   */
  maxReplicaLagMs: number;
  /**
   * DB_MAX_QUEUED: RPCs allowed to wait for a database connection at once; more fail fast with
   * UNAVAILABLE. Default 500: queries take a few ms on a pool of 10, so 500 waiters is a wait of
   * well under a second, while a flood beyond it is refused instead of delaying everyone.
   */
  dbMaxQueued: number;
  /** REVOCATION_SWEEP_INTERVAL: how often committed session revocations that Redis has not taken yet are re-applied. Default 5s. */
  revocationSweepIntervalMs: number;
  /** SESSION_COOKIE_SECURE (default true): the hosted sign-in page's cookie travels over HTTPS (and localhost) only. Its name is shared.sessionCookieName. */
  sessionCookieSecure: boolean;
  /** The OpenID Provider (src/auth/oauth/oauth-config.ts): OAUTH_* variables. */
  oauth: OAuthConfig;
  /** Social sign-in (src/auth/social/social-config.ts): SOCIAL_* variables. */
  social: SocialConfig;
}

export interface RateLimits {
  /** RATE_LIMIT_SIGNIN_IP: failed sign-ins (and second factors) per client IP. Default 50/15m. */
  signInIp: Rate;
  /** RATE_LIMIT_SIGNUP_IP: sign-ups per client IP. Default 100/1h. */
  signUpIp: Rate;
  /** RATE_LIMIT_MAIL_ACCOUNT: verification mails and notices (sign-up, email change) per email address, existing or not. Default 5/1h. */
  mailAccount: Rate;
  /** RATE_LIMIT_MAIL_RESET: password-reset mails per email address, existing or not. Default 5/1h. */
  mailReset: Rate;
  /** RATE_LIMIT_MAIL_IP: reset and verification requests per client IP. Default 20/1h. */
  mailIp: Rate;
  /** RATE_LIMIT_TOKEN_IP: VerifyEmail and ResetPassword attempts per client IP. Default 30/1h. */
  tokenIp: Rate;
  /** RATE_LIMIT_MFA_ACCOUNT: wrong second-factor codes per account. Default 10/15m. */
  mfaAccount: Rate;
}

export interface LockoutPolicy {
  /** LOCKOUT_THRESHOLD: consecutive failed sign-ins for one email before it locks. Default 5. */
  threshold: number;
  /** LOCKOUT_BASE: the first lock; each further failure doubles it. Default 1m. */
  baseMs: number;
  /** LOCKOUT_MAX: the longest lock. Default 1h. */
  maxMs: number;
  /** LOCKOUT_MEMORY: failures are forgotten this long after the last one. Default 24h. */
  memoryMs: number;
  /** LOCKOUT_HARD_CAP: consecutive failures after which only a password reset lets anyone sign in. Default 100 (NIST 800-63B 5.2.2). */
  hardCap: number;
}

/** Reads the auth service's config from env, collecting every problem before failing once. */
export function loadAuthConfig(env: Env): AuthConfig {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);

  const databaseUrl = read.url("DATABASE_URL", POSTGRES_PROTOCOLS);
  const redis = readRedisTarget(read);
  const signingKeyEncryptionKey = read.key32("SIGNING_KEY_ENCRYPTION_KEY");
  const core: Omit<AuthConfig, "oauth" | "social"> = {
    host: read.string("AUTH_HOST", "127.0.0.1"),
    port: read.port("AUTH_PORT", 7001),
    listener: readListenerLimits(read),
    databaseUrl,
    databasePrimaryUrl: read.optionalUrl("DATABASE_PRIMARY_URL", POSTGRES_PROTOCOLS) ?? databaseUrl,
    databaseReplicaUrl: read.optionalUrl("DATABASE_REPLICA_URL", POSTGRES_PROTOCOLS),
    redis,
    redisDurability: readRedisDurability(read, redis),
    shared: readSharedSettings(read),
    signingKeyEncryptionKey,
    signingKeyAlg: read.oneOf("SIGNING_KEY_ALG", SIGNING_ALGORITHMS, "EdDSA"),
    signingKeyRotationMs: read.duration("SIGNING_KEY_ROTATION", "30d"),
    accessTokenTtlMs: read.duration("ACCESS_TOKEN_TTL", "10m"),
    sessionIdleTtlMs: read.duration("SESSION_IDLE_TTL", "7d"),
    sessionAbsoluteTtlMs: read.duration("SESSION_ABSOLUTE_TTL", "30d"),
    argon2: {
      memoryKiB: read.integer("PASSWORD_ARGON2_MEMORY_KIB", 19456, 1024, 4_194_304),
      iterations: read.integer("PASSWORD_ARGON2_ITERATIONS", 2, 1, 100),
      parallelism: read.integer("PASSWORD_ARGON2_PARALLELISM", 1, 1, 64),
    },
    maxMessageBytes: read.integer("MAX_MESSAGE_BYTES", 65_536, 1024, 16_777_216),
    trustedProxies: read.list("TRUSTED_PROXIES"),
    logLevel: read.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
    rateLimits: {
      signInIp: read.rate("RATE_LIMIT_SIGNIN_IP", "50/15m"),
      signUpIp: read.rate("RATE_LIMIT_SIGNUP_IP", "100/1h"),
      mailAccount: read.rate("RATE_LIMIT_MAIL_ACCOUNT", "5/1h"),
      mailReset: read.rate("RATE_LIMIT_MAIL_RESET", "5/1h"),
      mailIp: read.rate("RATE_LIMIT_MAIL_IP", "20/1h"),
      tokenIp: read.rate("RATE_LIMIT_TOKEN_IP", "30/1h"),
      mfaAccount: read.rate("RATE_LIMIT_MFA_ACCOUNT", "10/15m"),
    },
    lockout: {
      threshold: read.integer("LOCKOUT_THRESHOLD", 5, 1, 1000),
      baseMs: read.duration("LOCKOUT_BASE", "1m"),
      maxMs: read.duration("LOCKOUT_MAX", "1h"),
      memoryMs: read.duration("LOCKOUT_MEMORY", "24h"),
      hardCap: read.integer("LOCKOUT_HARD_CAP", 100, 1, 100),
    },
    verifyEmailTokenTtlMs: read.duration("VERIFY_EMAIL_TOKEN_TTL", "24h"),
    resetTokenTtlMs: read.duration("RESET_TOKEN_TTL", "30m"),
    changeEmailTokenTtlMs: read.duration("CHANGE_EMAIL_TOKEN_TTL", "1h"),
    mfaEncryptionKey:
      read.optionalKey32("MFA_ENCRYPTION_KEY") ??
      // One secret to manage by default, yet a TOTP ciphertext and a signing-key ciphertext never share a key.
      Buffer.from(hkdfSync("sha256", signingKeyEncryptionKey, Buffer.alloc(0), "auth-platform totp secrets v1", 32)),
    mfaIssuer: read.string("MFA_ISSUER", "auth-platform"),
    mfaChallengeTtlMs: read.duration("MFA_CHALLENGE_TTL", "5m"),
    mfaChallengeAttempts: read.integer("MFA_CHALLENGE_ATTEMPTS", 5, 1, 100),
    reauthMaxAgeMs: read.duration("REAUTH_MAX_AGE", "5m"),
    userCacheTtlMs: read.duration("USER_CACHE_TTL", "60s"),
    profileCache: read.oneOf("PROFILE_CACHE", ["on", "off"] as const, "on") === "on",
    verifiedTokenCache: read.oneOf("VERIFIED_TOKEN_CACHE", ["on", "off"] as const, "on") === "on",
    maxReplicaLagMs: read.duration("MAX_REPLICA_LAG", "5s"),
    dbMaxQueued: read.integer("DB_MAX_QUEUED", 500, 1, 100_000),
    revocationSweepIntervalMs: read.duration("REVOCATION_SWEEP_INTERVAL", "5s"),
    sessionCookieSecure: read.oneOf("SESSION_COOKIE_SECURE", ["true", "false"] as const, "true") === "true",
    passwordBreachCheckUrl: read.optionalUrl("PASSWORD_BREACH_CHECK_URL", ["http:", "https:"]),
    csrfKey: Buffer.from(hkdfSync("sha256", signingKeyEncryptionKey, Buffer.alloc(0), "auth-platform csrf v1", 32)),
    auditPseudonymKey:
      read.optionalKey32("AUDIT_PSEUDONYM_KEY") ?? Buffer.from(hkdfSync("sha256", signingKeyEncryptionKey, Buffer.alloc(0), "auth-platform audit pseudonym v1", 32)),
  };
  const config: AuthConfig = { ...core, oauth: readOAuthConfig(read, core), social: readSocialConfig(read) };
  if (!config.sessionCookieSecure && /^__(Host|Secure)-/.test(config.shared.sessionCookieName)) {
    // A prefixed cookie without Secure is dropped by every browser: nobody could sign in.
    problems.push(
      `SESSION_COOKIE_SECURE=false cannot be used with the cookie ${config.shared.sessionCookieName} (PUBLIC_BASE_URL https, or a prefixed SESSION_COOKIE_NAME): the prefix needs Secure`,
    );
  }
  if (config.sessionAbsoluteTtlMs < config.sessionIdleTtlMs) {
    problems.push("SESSION_ABSOLUTE_TTL must not be shorter than SESSION_IDLE_TTL");
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

export interface MigrateConfig {
  /** DATABASE_PRIMARY_URL, else DATABASE_URL: the primary itself, never a transaction pool. */
  primaryUrl: string;
  /** LOG_LEVEL: default info. */
  logLevel: string;
}

/** What `npm run migrate` needs: the primary and a log level. */
export function loadMigrateConfig(env: Env): MigrateConfig {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);
  const primaryUrl = read.optionalUrl("DATABASE_PRIMARY_URL", POSTGRES_PROTOCOLS) ?? read.optionalUrl("DATABASE_URL", POSTGRES_PROTOCOLS);
  if (primaryUrl === undefined && problems.length === 0) problems.push("DATABASE_PRIMARY_URL (or DATABASE_URL) is required");
  const config = { primaryUrl: primaryUrl ?? "", logLevel: read.oneOf("LOG_LEVEL", LOG_LEVELS, "info") };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
