import { hkdfSync } from "node:crypto";
import { parseDuration } from "./duration.js";

export interface Argon2Params {
  /** KiB of memory; OWASP minimum for argon2id with t=2 is 19456. */
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}

export interface AuthConfig {
  /** AUTH_HOST, default 127.0.0.1. */
  host: string;
  /** AUTH_PORT, default 7001. */
  port: number;
  /** DATABASE_URL: writes and fresh reads (PgBouncer in the local stack). Required. */
  databaseUrl: string;
  /** DATABASE_PRIMARY_URL: the primary without a transaction pool, for migrations. Default DATABASE_URL. */
  databasePrimaryUrl: string;
  /** DATABASE_REPLICA_URL: reads that may lag. Default: none, everything reads from DATABASE_URL. */
  databaseReplicaUrl: string | undefined;
  /** REDIS_URL: sessions, revocation events. Required. */
  redisUrl: string;
  /** AUTH_ISSUER: the JWT `iss`. Default http://127.0.0.1:<port>. */
  issuer: string;
  /** AUTH_AUDIENCE: the JWT `aud`. Default auth-platform. */
  audience: string;
  /** SIGNING_KEY_ENCRYPTION_KEY: 32 bytes, base64; encrypts private signing keys at rest. Required, no default. */
  signingKeyEncryptionKey: Buffer;
  /** SIGNING_KEY_ALG: EdDSA (default) or ES256. */
  signingKeyAlg: "EdDSA" | "ES256";
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
  /** PUBLIC_BASE_URL: where links in mail point; never taken from request headers. Default http://127.0.0.1:8080. */
  publicBaseUrl: string;
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
  /** USER_CACHE_TTL: how long sign-in's user lookup stays in Redis; every write invalidates it sooner. Default 60s. */
  userCacheTtlMs: number;
  /** SESSION_COOKIE_NAME (default auth_session) and SESSION_COOKIE_SECURE (default true) for the hosted sign-in page. */
  sessionCookie: { name: string; secure: boolean };
}

export interface MailWorkerConfig {
  /** DATABASE_URL: where the outbox lives. Required. */
  databaseUrl: string;
  /** SMTP_URL: smtp://user:pass@host:port or smtps://... Required. */
  smtpUrl: string;
  /** MAIL_FROM: the From of every message. Default "Auth <no-reply@localhost>". */
  from: string;
  /** MAIL_MAX_ATTEMPTS: sends tried before a message is marked failed. Default 8. */
  maxAttempts: number;
  /** MAIL_RETRY_BASE: the wait after the first failure; doubles with each attempt. Default 30s. */
  retryBaseMs: number;
  /** MAIL_POLL_INTERVAL: how often an idle worker looks for due mail. Default 2s. */
  pollIntervalMs: number;
  /** LOG_LEVEL: default info. */
  logLevel: string;
}

export interface Rate {
  points: number;
  durationMs: number;
}

export interface RateLimits {
  /** RATE_LIMIT_SIGNIN_IP: failed sign-ins (and second factors) per client IP. Default 50/15m. */
  signInIp: Rate;
  /** RATE_LIMIT_SIGNUP_IP: sign-ups per client IP. Default 100/1h. */
  signUpIp: Rate;
  /** RATE_LIMIT_MAIL_ACCOUNT: reset and verification mails per email address, existing or not. Default 5/1h. */
  mailAccount: Rate;
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
}

export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    message = `invalid configuration:\n  - ${problems.join("\n  - ")}`,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
const POSTGRES_PROTOCOLS = ["postgres:", "postgresql:"];

/** Reads the whole config from env, collecting every problem before failing once. */
export function loadConfig(env: Env): AuthConfig {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);

  const port = read.port("AUTH_PORT", 7001);
  const databaseUrl = read.url("DATABASE_URL", POSTGRES_PROTOCOLS);
  const signingKeyEncryptionKey = read.key32("SIGNING_KEY_ENCRYPTION_KEY");
  const config: AuthConfig = {
    host: read.string("AUTH_HOST", "127.0.0.1"),
    port,
    databaseUrl,
    databasePrimaryUrl: read.optionalUrl("DATABASE_PRIMARY_URL", POSTGRES_PROTOCOLS) ?? databaseUrl,
    databaseReplicaUrl: read.optionalUrl("DATABASE_REPLICA_URL", POSTGRES_PROTOCOLS),
    redisUrl: read.url("REDIS_URL", ["redis:", "rediss:"]),
    issuer: read.string("AUTH_ISSUER", `http://127.0.0.1:${port}`),
    audience: read.string("AUTH_AUDIENCE", "auth-platform"),
    signingKeyEncryptionKey,
    signingKeyAlg: read.oneOf("SIGNING_KEY_ALG", ["EdDSA", "ES256"] as const, "EdDSA"),
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
      mailIp: read.rate("RATE_LIMIT_MAIL_IP", "20/1h"),
      tokenIp: read.rate("RATE_LIMIT_TOKEN_IP", "30/1h"),
      mfaAccount: read.rate("RATE_LIMIT_MFA_ACCOUNT", "10/15m"),
    },
    lockout: {
      threshold: read.integer("LOCKOUT_THRESHOLD", 5, 1, 1000),
      baseMs: read.duration("LOCKOUT_BASE", "1m"),
      maxMs: read.duration("LOCKOUT_MAX", "1h"),
      memoryMs: read.duration("LOCKOUT_MEMORY", "24h"),
    },
    publicBaseUrl: (read.optionalUrl("PUBLIC_BASE_URL", ["http:", "https:"]) ?? "http://127.0.0.1:8080").replace(/\/+$/, ""),
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
    userCacheTtlMs: read.duration("USER_CACHE_TTL", "60s"),
    sessionCookie: {
      name: read.string("SESSION_COOKIE_NAME", "auth_session"),
      secure: read.oneOf("SESSION_COOKIE_SECURE", ["true", "false"] as const, "true") === "true",
    },
  };
  if (config.sessionAbsoluteTtlMs < config.sessionIdleTtlMs) {
    problems.push("SESSION_ABSOLUTE_TTL must not be shorter than SESSION_IDLE_TTL");
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** The mail worker's config: only what delivering the outbox needs. */
export function loadMailWorkerConfig(env: Env): MailWorkerConfig {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);
  const config: MailWorkerConfig = {
    databaseUrl: read.url("DATABASE_URL", POSTGRES_PROTOCOLS),
    smtpUrl: read.url("SMTP_URL", ["smtp:", "smtps:"]),
    from: read.string("MAIL_FROM", "Auth <no-reply@localhost>"),
    maxAttempts: read.integer("MAIL_MAX_ATTEMPTS", 8, 1, 100),
    retryBaseMs: read.duration("MAIL_RETRY_BASE", "30s"),
    pollIntervalMs: read.duration("MAIL_POLL_INTERVAL", "2s"),
    logLevel: read.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Typed reads of env variables; each bad value adds a problem naming its variable and yields a placeholder. */
export class EnvReader {
  constructor(
    private readonly env: Env,
    private readonly problems: string[],
  ) {}

  private raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  list(name: string): string[] {
    return (this.raw(name) ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max}, got "${value}"`);
      return fallback;
    }
    return parsed;
  }

  port(name: string, fallback: number): number {
    return this.integer(name, fallback, 0, 65535);
  }

  duration(name: string, fallback: string, maxMs = Infinity): number {
    const value = this.raw(name) ?? fallback;
    const parsed = parseDuration(value);
    if (parsed === undefined || parsed <= 0 || parsed > maxMs) {
      const range = maxMs === Infinity ? "such as 30s, 10m, 7d" : `from 1ms to ${maxMs}ms such as 200ms or 5s`;
      this.problems.push(`${name} must be a duration ${range}; got "${value}"`);
      return 1;
    }
    return parsed;
  }

  rate(name: string, fallback: string): Rate {
    const value = this.raw(name) ?? fallback;
    const match = /^(\d{1,9})\/(.+)$/.exec(value);
    const points = match ? Number(match[1]) : 0;
    const durationMs = match?.[2] ? parseDuration(match[2]) : undefined;
    if (points < 1 || durationMs === undefined || durationMs < 1000) {
      this.problems.push(`${name} must read <points>/<duration> such as 5/1h; got "${value}"`);
      return { points: 1, durationMs: 1000 };
    }
    return { points, durationMs };
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      this.problems.push(`${name} must be one of ${allowed.join(", ")}; got "${value}"`);
      return fallback;
    }
    return value as T;
  }

  optionalUrl(name: string, protocols: string[]): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      this.problems.push(`${name} is not a valid URL`);
      return undefined;
    }
    if (!protocols.includes(url.protocol)) {
      this.problems.push(`${name} must use ${protocols.join(" or ")}//, got ${url.protocol}//`);
      return undefined;
    }
    return value;
  }

  url(name: string, protocols: string[]): string {
    if (this.raw(name) === undefined) {
      this.problems.push(`${name} is required`);
      return "";
    }
    return this.optionalUrl(name, protocols) ?? "";
  }

  optionalKey32(name: string): Buffer | undefined {
    return this.raw(name) === undefined ? undefined : this.key32(name);
  }

  key32(name: string): Buffer {
    const value = this.raw(name);
    if (value === undefined) {
      this.problems.push(`${name} is required (32 random bytes, base64: openssl rand -base64 32)`);
      return Buffer.alloc(32);
    }
    const key = Buffer.from(value, "base64");
    if (key.length !== 32) {
      this.problems.push(`${name} must be 32 bytes encoded as base64, got ${key.length} bytes`);
      return Buffer.alloc(32);
    }
    return key;
  }
}
