import { AUTH_LEVELS, type AuthLevel } from "../contract/auth-level.js";
import { readSharedSettings, type SharedSettings } from "../contract/shared-settings.js";
import { ConfigError, EnvReader, LOG_LEVELS, type Env } from "../platform/config.js";
import { readRedisTarget, type RedisTarget } from "../platform/redis-target.js";
import { readListenerLimits, type ListenerLimits } from "../platform/listener-limits.js";
import { parseRoleRules, type RoleRule } from "./role-rules.js";
import { readAudienceRules, type AudienceRule } from "./audience-rules.js";

export { ConfigError };

export type DegradedMode = "fail_closed" | "allow_tokens";

export interface LevelRule {
  prefix: string;
  level: AuthLevel;
}

export interface AuthzConfig {
  /** AUTHZ_HOST, default 127.0.0.1: both ports trust their callers (Envoy, nginx), so keep them private. */
  host: string;
  /** AUTHZ_PORT, default 7002: envoy.service.auth.v3.Authorization and grpc.health.v1 over gRPC. */
  port: number;
  /** AUTHZ_HTTP_PORT, default 7003: /auth/forward, /metrics, /healthz, /readyz. */
  httpPort: number;
  /** Timeouts and caps of both ports, and the shutdown grace (listener-limits.ts; the gRPC port takes the stream cap, idle timeout and grace). */
  listener: ListenerLimits;
  /** REDIS_URL (one node) or REDIS_CLUSTER_NODES (a Redis Cluster's seeds): sessions and the revocation channel. One is required. */
  redis: RedisTarget;
  /** AUTHZ_REDIS_TIMEOUT, default 200ms: every Redis call is bounded so a Check never outlives Envoy's timeout. */
  redisTimeoutMs: number;
  /** AUTHZ_JWKS_URL, default http://127.0.0.1:7001/.well-known/jwks.json (the auth service). */
  jwksUrl: string;
  /**
   * What the auth service must agree on, read from the same variables (src/contract/shared-settings.ts):
   * AUTH_ISSUER, AUTH_AUDIENCE, SESSION_COOKIE_NAME (the cookie is `<session id>.<secret>`; Redis keeps
   * its hash), DEVICE_BINDING, PUBLIC_BASE_URL.
   */
  shared: SharedSettings;
  /** AUTHZ_ISSUER_METADATA_URL, default /.well-known/oauth-authorization-server at AUTHZ_JWKS_URL's origin: where the start-up issuer check asks. */
  issuerMetadataUrl: string;
  /** AUTHZ_ISSUER_WAIT, default 30s: how long start-up waits for an auth service to answer that check. */
  issuerWaitMs: number;
  /** AUTHZ_PUBLIC_PREFIXES: comma-separated path prefixes allowed without identity. Default: DEFAULT_PUBLIC_PREFIXES. */
  publicPrefixes: string[];
  /** AUTHZ_LEVEL_RULES: comma-separated `prefix=level` (levels basic, verified, mfa); the longest prefix wins. Default none. */
  levelRules: LevelRule[];
  /** AUTHZ_ROLE_RULES: comma-separated `prefix=role:<name>`; the longest prefix wins, and applies with the level rules. Default none. */
  roleRules: RoleRule[];
  /** AUTHZ_AUDIENCE_RULES (audience-rules.ts): the routes that accept OAuth access tokens, by audience. Default none. */
  audienceRules: AudienceRule[];
  /** SIGNIN_URL, default PUBLIC_BASE_URL/signin: browsers are sent here with ?return_to=<path>. */
  signinUrl: string;
  /** AUTHZ_REALM, default auth-platform: the realm in WWW-Authenticate. */
  realm: string;
  /** AUTHZ_CACHE_TTL, default 5s: the safety net behind revocation events. */
  cacheTtlMs: number;
  /** AUTHZ_CACHE_MAX_ENTRIES, default 100000 per cache (sessions, tokens). */
  cacheMaxEntries: number;
  /** AUTHZ_CACHE_MAX_BYTES, default 32 MiB per cache: the estimated size of its keys and values. */
  cacheMaxBytes: number;
  /**
   * AUTHZ_CHECK_SECRET, default none: when set (32 characters or more), Check needs it as the
   * `x-authz-secret` metadata and forward-auth as the `x-authz-secret` header; anyone else who
   * reaches the ports gets no decision. Set it in the gateway (Envoy grpc_service initial_metadata,
   * nginx proxy_set_header).
   */
  checkSecret: string | undefined;
  /** AUTHZ_DEGRADED_MODE: fail_closed (default) or allow_tokens (valid access tokens pass while Redis is unreachable). */
  degradedMode: DegradedMode;
  /** LOG_LEVEL, default info. */
  logLevel: string;
}

// The RPCs and pages a caller uses before it has, or when it has lost, a credential.
export const DEFAULT_PUBLIC_PREFIXES = [
  "/auth.v1.AuthService/SignUp",
  "/auth.v1.AuthService/SignIn",
  "/auth.v1.AuthService/CompleteSignIn",
  "/auth.v1.AuthService/Refresh",
  "/auth.v1.AuthService/RequestPasswordReset",
  "/auth.v1.AuthService/ResetPassword",
  "/auth.v1.AuthService/VerifyEmail",
  "/auth.v1.PasskeyService/BeginPasskeySignIn",
  "/auth.v1.PasskeyService/CompletePasskeySignIn",
  "/signin",
  "/signup",
  "/assets/",
  "/signout",
  "/forgot-password",
  "/verify-email",
  "/reset-password",
  "/.well-known/jwks.json",
  "/.well-known/oauth-authorization-server",
  // The OpenID Provider authenticates its own clients and tokens (src/auth/oauth/).
  "/.well-known/openid-configuration",
  "/oauth2/",
];

const HTTP = ["http:", "https:"];

/** Reads the authz config from env, collecting every problem before failing once. */
export function loadAuthzConfig(env: Env): AuthzConfig {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);
  const prefixes = (name: string, values: string[]): string[] => {
    for (const prefix of values) if (!prefix.startsWith("/")) problems.push(`${name}: "${prefix}" must start with /`);
    return values;
  };

  const levelRules: LevelRule[] = [];
  for (const rule of read.list("AUTHZ_LEVEL_RULES")) {
    const [prefix = "", level = ""] = rule.split("=").map((s) => s.trim());
    if (!prefix.startsWith("/") || !(AUTH_LEVELS as readonly string[]).includes(level)) {
      problems.push(`AUTHZ_LEVEL_RULES: "${rule}" must be /prefix=level with level one of ${AUTH_LEVELS.join(", ")}`);
      continue;
    }
    levelRules.push({ prefix, level: level as AuthLevel });
  }

  const shared = readSharedSettings(read);
  const jwksUrl = read.optionalUrl("AUTHZ_JWKS_URL", HTTP) ?? "http://127.0.0.1:7001/.well-known/jwks.json";
  const config: AuthzConfig = {
    host: read.string("AUTHZ_HOST", "127.0.0.1"),
    port: read.port("AUTHZ_PORT", 7002),
    httpPort: read.port("AUTHZ_HTTP_PORT", 7003),
    listener: readListenerLimits(read),
    redis: readRedisTarget(read),
    redisTimeoutMs: read.duration("AUTHZ_REDIS_TIMEOUT", "200ms", 10_000),
    jwksUrl,
    shared,
    issuerMetadataUrl: read.optionalUrl("AUTHZ_ISSUER_METADATA_URL", HTTP) ?? new URL("/.well-known/oauth-authorization-server", jwksUrl).toString(),
    issuerWaitMs: read.duration("AUTHZ_ISSUER_WAIT", "30s", 600_000),
    // Set but listing nothing (",,") means no public prefixes, not the defaults.
    publicPrefixes: prefixes("AUTHZ_PUBLIC_PREFIXES", env.AUTHZ_PUBLIC_PREFIXES?.trim() ? read.list("AUTHZ_PUBLIC_PREFIXES") : DEFAULT_PUBLIC_PREFIXES),
    levelRules,
    roleRules: parseRoleRules(read.list("AUTHZ_ROLE_RULES"), problems),
    audienceRules: readAudienceRules(read, shared.audience),
    signinUrl: read.optionalUrl("SIGNIN_URL", HTTP) ?? `${shared.publicBaseUrl}/signin`,
    realm: read.string("AUTHZ_REALM", "auth-platform"),
    cacheTtlMs: read.duration("AUTHZ_CACHE_TTL", "5s", 60_000),
    cacheMaxEntries: read.integer("AUTHZ_CACHE_MAX_ENTRIES", 100_000, 1, 10_000_000),
    cacheMaxBytes: read.integer("AUTHZ_CACHE_MAX_BYTES", 32 * 1024 * 1024, 65_536, 4 * 1024 * 1024 * 1024),
    degradedMode: read.oneOf("AUTHZ_DEGRADED_MODE", ["fail_closed", "allow_tokens"] as const, "fail_closed"),
    checkSecret: env.AUTHZ_CHECK_SECRET === undefined || env.AUTHZ_CHECK_SECRET === "" ? undefined : env.AUTHZ_CHECK_SECRET,
    logLevel: read.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
  };
  if (config.checkSecret !== undefined && config.checkSecret.length < 32) problems.push("AUTHZ_CHECK_SECRET must be at least 32 characters");
  if (/["\\]/.test(config.realm)) problems.push("AUTHZ_REALM must not contain quotes or backslashes");
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
