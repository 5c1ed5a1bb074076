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
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

/** Reads the whole config from env, collecting every problem before failing once. */
export function loadConfig(env: Env): AuthConfig {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);

  const port = read.port("AUTH_PORT", 7001);
  const databaseUrl = read.url("DATABASE_URL", ["postgres:", "postgresql:"]);
  const config: AuthConfig = {
    host: read.string("AUTH_HOST", "127.0.0.1"),
    port,
    databaseUrl,
    databasePrimaryUrl: read.optionalUrl("DATABASE_PRIMARY_URL", ["postgres:", "postgresql:"]) ?? databaseUrl,
    databaseReplicaUrl: read.optionalUrl("DATABASE_REPLICA_URL", ["postgres:", "postgresql:"]),
    redisUrl: read.url("REDIS_URL", ["redis:", "rediss:"]),
    issuer: read.string("AUTH_ISSUER", `http://127.0.0.1:${port}`),
    audience: read.string("AUTH_AUDIENCE", "auth-platform"),
    signingKeyEncryptionKey: read.key32("SIGNING_KEY_ENCRYPTION_KEY"),
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
    logLevel: read.oneOf("LOG_LEVEL", ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const, "info"),
  };
  if (config.sessionAbsoluteTtlMs < config.sessionIdleTtlMs) {
    problems.push("SESSION_ABSOLUTE_TTL must not be shorter than SESSION_IDLE_TTL");
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

class EnvReader {
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

  duration(name: string, fallback: string): number {
    const value = this.raw(name) ?? fallback;
    const parsed = parseDuration(value);
    if (parsed === undefined || parsed <= 0) {
      this.problems.push(`${name} must be a duration such as 30s, 10m, 7d; got "${value}"`);
      return 1;
    }
    return parsed;
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
