import { USER_CHANGED, USER_SESSIONS_REVOKED } from "../contract/session-events.js";
import { systemClock, type Clock } from "../platform/clock.js";
import type { Logger } from "../platform/log.js";
import { defaultProtoDirs, type ProtoDirs } from "../platform/proto-dirs.js";
import { createRedis, createRedisSubscriber, discoveredNodes } from "../platform/redis.js";
import { createAuthorizer } from "./authorizer.js";
import { createCheckPipeline } from "./check-pipeline.js";
import { createJwksKeys } from "./jwks-keys.js";
import { assertIssuerServed } from "./issuer-check.js";
import type { AuthzConfig } from "./config.js";
import { createCallerCheck } from "./caller-secret.js";
import { startGrpcServer } from "./grpc-server.js";
import { startHttpServer } from "./http-server.js";
import { createAuthzMetrics } from "./metrics.js";
import { createRevocationListener } from "./revocation-listener.js";
import { createRolePolicy } from "./role-rules.js";
import { createRoutePolicy } from "./route-policy.js";
import { createAudiencePolicy } from "./audience-rules.js";
import { createSessionLookup, type SessionState } from "./session-lookup.js";
import { createTokenVerifier, type TokenClaims } from "./token-verifier.js";
import { createTtlCache } from "../platform/ttl-cache.js";
import { traceRedisCalls } from "../platform/traced-redis.js";
import { tracingOff, type Tracing } from "../platform/tracing.js";

export { defaultProtoDirs };

export interface AuthzServer {
  /** Where each port listens, as a gateway's targets are given. */
  endpoints: { grpc: { host: string; port: number }; http: { host: string; port: number } };
  /** host:port for gRPC clients (Envoy's cluster). */
  grpcAddress: string;
  httpUrl: string;
  close(): Promise<void>;
}

export interface AuthzServerOptions {
  log: Logger;
  clock?: Clock;
  protoDirs?: ProtoDirs;
  /** Spans for Checks and their Redis reads (src/platform/tracing.ts); default off. */
  tracing?: Tracing;
}

// A key set fetch happens on start and on an unknown kid; it must not eat Envoy's whole Check timeout.
const JWKS_TIMEOUT_MS = 1000;
// A flood of tokens with made-up kids refetches at most this often.
const JWKS_COOLDOWN_MS = 5000;
// As jose's remote key sets: keys are refetched after ten minutes, so retired ones leave.
const JWKS_MAX_AGE_MS = 600_000;

/** Wires the authz server from config and starts both ports; the single place tests and main share. */
export async function startAuthzServer(config: AuthzConfig, options: AuthzServerOptions): Promise<AuthzServer> {
  const { log } = options;
  await assertIssuerServed({ metadataUrl: config.issuerMetadataUrl, issuer: config.shared.issuer, waitMs: config.issuerWaitMs, log });
  const clock = options.clock ?? systemClock;
  const tracing = options.tracing ?? tracingOff;
  const metrics = createAuthzMetrics();
  const redis = createRedis(config.redis, {
    commandTimeoutMs: config.redisTimeoutMs,
    // Checks arriving together share one socket write for their session reads (one node only: redis.ts).
    ioredis: { enableAutoPipelining: true },
    onError: (error) => {
      metrics.redisError();
      log.warn({ err: error.message }, "redis error");
    },
  });
  const subscriber = createRedisSubscriber(config.redis, {
    onError: (error) => {
      metrics.redisError();
      log.warn({ err: error.message }, "revocation subscriber error");
    },
    knownNodes: () => discoveredNodes(redis),
  });

  const cacheDeps = { clock, ttlMs: config.cacheTtlMs, maxEntries: config.cacheMaxEntries, maxBytes: config.cacheMaxBytes };
  // Sizes as V8 holds them: two bytes a character, and the fields' own overhead.
  const sessionCache = createTtlCache<SessionState | null>({
    ...cacheDeps,
    onLookup: (hit) => metrics.cacheLookup("session", hit),
    sizeOf: (s) => (s ? 2 * (s.userId.length + s.userAgent.length + (s.fingerprint?.length ?? 0) + (s.cookieHash?.length ?? 0) + (s.roles?.join(",").length ?? 0)) + 96 : 8),
  });
  const tokenCache = createTtlCache<TokenClaims>({
    ...cacheDeps,
    onLookup: (hit) => metrics.cacheLookup("token", hit),
    sizeOf: (c) => 2 * (c.userId.length + c.sessionId.length) + 64,
  });
  const revocations = createRevocationListener({
    subscriber,
    log,
    // A cutoff covers sessions by creation time, not by id, so no single entry can be picked out; they are rare (password changes).
    // A user's roles are cached in each of their sessions' entries, which are not indexed by user either.
    onSessionEvent: (event) => {
      if (event.type === USER_SESSIONS_REVOKED || event.type === USER_CHANGED) sessionCache.clear();
      else sessionCache.delete(event.sessionId);
      // The wall clock, not `clock`: the event's stamp is Redis's TIME.
      metrics.revocationApplied(event, Date.now());
    },
    onResync: () => {
      sessionCache.clear();
      tokenCache.clear();
      metrics.setRevocationsLive(true);
    },
    onLost: () => metrics.setRevocationsLive(false),
  });

  let storeReachable = true;
  const onStoreStatus = (reachable: boolean) => {
    if (reachable === storeReachable) return;
    storeReachable = reachable;
    const degraded = !reachable && config.degradedMode === "allow_tokens";
    metrics.setDegraded(degraded);
    if (reachable) log.info("session store reachable again; degraded mode over");
    else if (degraded) log.warn("session store unreachable: DEGRADED MODE, access tokens pass without a session check, cookies are denied");
    else log.error("session store unreachable: denying every credential (fail closed)");
  };

  const keys = createJwksKeys({
    url: config.jwksUrl,
    clock,
    timeoutMs: JWKS_TIMEOUT_MS,
    cooldownMs: JWKS_COOLDOWN_MS,
    maxAgeMs: JWKS_MAX_AGE_MS,
    // A kid that left the set must not keep passing through tokens verified with it.
    onKeysChanged: () => tokenCache.clear(),
  });
  // Fetched now, not by the first Check: that fetch alone can outlast Envoy's Check timeout
  // on a busy machine.
  await keys.reload().catch((error: unknown) => log.warn({ err: (error as Error).message, jwksUrl: config.jwksUrl }, "key set not fetched at start; the first token Check will fetch it"));
  const audiences = createAudiencePolicy(config.audienceRules);
  const pipeline = createCheckPipeline({
    tokens: createTokenVerifier({
      keys: keys.keyFor,
      issuer: config.shared.issuer,
      audience: config.shared.audience,
      oauthAudiences: audiences.audiences,
      clock,
      cache: tokenCache,
    }),
    audiences,
    // Spanned per call, not per command: this client pipelines automatically (see traced-redis.ts).
    sessions: createSessionLookup({ redis: traceRedisCalls(redis, ["hmget", "get"], tracing), cache: sessionCache, cacheTrusted: revocations.live }),
    routes: createRoutePolicy({ publicPrefixes: config.publicPrefixes, levelRules: config.levelRules }),
    roles: createRolePolicy(config.roleRules),
    clock,
    sessionCookie: config.shared.sessionCookieName,
    degradedMode: config.degradedMode,
    deviceBinding: config.shared.deviceBinding,
    onStoreStatus,
  });
  const authorizer = createAuthorizer({ pipeline, metrics, log, realm: config.realm, signinUrl: config.signinUrl });
  const serving = async () => {
    try {
      await redis.ping();
      onStoreStatus(true);
      return true;
    } catch {
      onStoreStatus(false);
      return config.degradedMode === "allow_tokens";
    }
  };

  const closers: Array<() => Promise<unknown>> = [
    () => revocations.close(),
    () => redis.quit().catch(() => redis.disconnect()),
    async () => {
      sessionCache.close();
      tokenCache.close();
    },
  ];
  const servers: Array<{ close(): Promise<void> }> = [];
  // Both ports drain at once, each within the grace; the Redis connections go after them.
  const closeAll = async () => {
    await Promise.all(servers.map((server) => server.close().catch(() => {})));
    for (const close of closers) await close().catch(() => {});
  };
  try {
    const callerAllowed = createCallerCheck(config.checkSecret);
    const grpcServer = await startGrpcServer({ authorizer, serving, protoDirs: options.protoDirs ?? defaultProtoDirs(), log, callerAllowed, tracing }, config.host, config.port, config.listener);
    servers.push(grpcServer);
    const httpServer = await startHttpServer({ authorizer, metrics, serving, log, callerAllowed }, config.host, config.httpPort, config.listener);
    servers.push(httpServer);
    return {
      endpoints: { grpc: { host: config.host, port: grpcServer.port }, http: { host: config.host, port: httpServer.port } },
      grpcAddress: `${config.host}:${grpcServer.port}`,
      httpUrl: `http://${config.host}:${httpServer.port}`,
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
