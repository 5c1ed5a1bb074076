import { fileURLToPath } from "node:url";
import { createRemoteJWKSet } from "jose";
import { USER_SESSIONS_REVOKED } from "../contract/session-events.js";
import { systemClock, type Clock } from "../platform/clock.js";
import type { Logger } from "../platform/log.js";
import { createRedis } from "../platform/redis.js";
import { createAuthorizer } from "./authorizer.js";
import { createCheckPipeline } from "./check-pipeline.js";
import type { AuthzConfig } from "./config.js";
import { startGrpcServer, type ProtoDirs } from "./grpc-server.js";
import { startHttpServer } from "./http-server.js";
import { createAuthzMetrics } from "./metrics.js";
import { createRevocationListener } from "./revocation-listener.js";
import { createRoutePolicy } from "./route-policy.js";
import { createSessionLookup, type SessionState } from "./session-lookup.js";
import { createTokenVerifier, type TokenClaims } from "./token-verifier.js";
import { createTtlCache } from "./ttl-cache.js";

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
}

// A key set fetch happens on start and on an unknown kid; it must not eat Envoy's whole Check timeout.
const JWKS_TIMEOUT_MS = 1000;
// A flood of tokens with made-up kids refetches at most this often.
const JWKS_COOLDOWN_MS = 5000;

export function defaultProtoDirs(): ProtoDirs {
  return {
    envoyApi: fileURLToPath(new URL("../../envoy/api", import.meta.url)),
    project: fileURLToPath(new URL("../../proto", import.meta.url)),
  };
}

/** Wires the authz server from config and starts both ports; the single place tests and main share. */
export async function startAuthzServer(config: AuthzConfig, options: AuthzServerOptions): Promise<AuthzServer> {
  const { log } = options;
  const clock = options.clock ?? systemClock;
  const metrics = createAuthzMetrics();
  const redis = createRedis(config.redisUrl, {
    commandTimeoutMs: config.redisTimeoutMs,
    onError: (error) => log.warn({ err: error.message }, "redis error"),
  });
  const subscriber = createRedis(config.redisUrl, {
    onError: (error) => log.warn({ err: error.message }, "revocation subscriber error"),
    // The listener resubscribes itself so it can resync caches; a subscribed connection waits for messages indefinitely.
    ioredis: { autoResubscribe: false, commandTimeout: undefined },
  });

  const cacheDeps = { clock, ttlMs: config.cacheTtlMs, maxEntries: config.cacheMaxEntries };
  const sessionCache = createTtlCache<SessionState | null>(cacheDeps);
  const tokenCache = createTtlCache<TokenClaims>(cacheDeps);
  const revocations = createRevocationListener({
    subscriber,
    log,
    // A cutoff covers sessions by creation time, not by id, so no single entry can be picked out; they are rare (password changes).
    onSessionEvent: (event) => (event.type === USER_SESSIONS_REVOKED ? sessionCache.clear() : sessionCache.delete(event.sessionId)),
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

  const pipeline = createCheckPipeline({
    tokens: createTokenVerifier({
      keys: createRemoteJWKSet(new URL(config.jwksUrl), { timeoutDuration: JWKS_TIMEOUT_MS, cooldownDuration: JWKS_COOLDOWN_MS }),
      issuer: config.shared.issuer,
      audience: config.shared.audience,
      clock,
      cache: tokenCache,
    }),
    sessions: createSessionLookup({ redis, cache: sessionCache, cacheTrusted: revocations.live }),
    routes: createRoutePolicy({ publicPrefixes: config.publicPrefixes, levelRules: config.levelRules }),
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

  const closers: Array<() => Promise<unknown>> = [() => revocations.close(), () => redis.quit().catch(() => redis.disconnect())];
  const servers: Array<{ close(): Promise<void> }> = [];
  // Both ports drain at once, each within the grace; the Redis connections go after them.
  const closeAll = async () => {
    await Promise.all(servers.map((server) => server.close().catch(() => {})));
    for (const close of closers) await close().catch(() => {});
  };
  try {
    const grpcServer = await startGrpcServer({ authorizer, serving, protoDirs: options.protoDirs ?? defaultProtoDirs(), log }, config.host, config.port, config.listener);
    servers.push(grpcServer);
    const httpServer = await startHttpServer({ authorizer, metrics, serving, log }, config.host, config.httpPort, config.listener);
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
