import type { ServerResponse } from "node:http";
import { createContextValues } from "@connectrpc/connect";
import { AuthService } from "../gen/auth/v1/auth_pb.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { systemClock, type Clock } from "../platform/clock.js";
import type { AuthConfig } from "../platform/config.js";
import { createNodeHandler, type NodeRequest, type NodeResponse } from "../platform/connect-handler.js";
import { createDb } from "../platform/db.js";
import { listenDualProtocol } from "../platform/dual-protocol-server.js";
import { createHealthService, type ReadinessProbe } from "../platform/health.js";
import { createErrorInterceptor } from "../platform/interceptors.js";
import type { Logger } from "../platform/log.js";
import { migrate } from "../platform/migrate.js";
import { createRedis, redisReady } from "../platform/redis.js";
import { createReflectionService } from "../platform/reflection.js";
import { kRequestMeta, requestMetaFrom } from "../platform/request-context.js";
import { createPgAuditLog } from "./audit/pg-audit-log.js";
import { createAuthService } from "./auth-service.js";
import { createAuthenticator } from "./authenticate.js";
import { createPasswordHasher } from "./passwords/password-hasher.js";
import { createPasswordPolicy, loadCommonPasswords } from "./passwords/password-policy.js";
import { createRedisSessionStore } from "./sessions/redis-session-store.js";
import { createAccessTokens } from "./tokens/access-tokens.js";
import { createKeyRing } from "./tokens/key-ring.js";
import { createPgSigningKeyStore } from "./tokens/signing-key-store.js";
import { createPgUserStore } from "./users/pg-user-store.js";

export interface AuthServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

export interface AuthServerOptions {
  log: Logger;
  clock?: Clock;
  /** Refresh tokens rotated less than this long ago are refused without revoking the family. Default 2 s. */
  refreshReuseGraceMs?: number;
  /** Skip migrations (when a separate `migrate` step owns them). */
  skipMigrations?: boolean;
}


function sendJson(res: NodeResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  (res as ServerResponse).writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers });
  res.end(payload);
}

/** Wires the auth service from config and starts serving; the single place tests and main share. */
export async function startAuthServer(config: AuthConfig, options: AuthServerOptions): Promise<AuthServer> {
  const { log } = options;
  const clock = options.clock ?? systemClock;
  if (!options.skipMigrations) await migrate(config.databasePrimaryUrl, log);

  const db = createDb({
    writeUrl: config.databaseUrl,
    readUrl: config.databaseReplicaUrl,
    onError: (error) => log.warn({ err: error }, "database connection lost; will reconnect"),
  });
  const redis = createRedis(config.redisUrl, { onError: (error) => log.warn({ err: error.message }, "redis error") });
  const closers: Array<() => Promise<unknown> | void> = [() => db.close(), () => redis.quit().catch(() => redis.disconnect())];
  try {
    await redisReady(redis);
    const keys = await createKeyRing({
      store: createPgSigningKeyStore(db.write),
      encryptionKey: config.signingKeyEncryptionKey,
      alg: config.signingKeyAlg,
      rotationMs: config.signingKeyRotationMs,
      accessTokenTtlMs: config.accessTokenTtlMs,
      clock,
      log,
    });
    closers.unshift(() => keys.close());
    const sessions = createRedisSessionStore({
      redis,
      clock,
      idleTtlMs: config.sessionIdleTtlMs,
      absoluteTtlMs: config.sessionAbsoluteTtlMs,
      reuseGraceMs: options.refreshReuseGraceMs ?? 2_000,
    });
    const tokens = createAccessTokens({ keys, issuer: config.issuer, audience: config.audience, ttlMs: config.accessTokenTtlMs, clock });
    const service = createAuthService({
      users: createPgUserStore(db.write),
      sessions,
      tokens,
      authenticator: createAuthenticator({ tokens, sessions }),
      hasher: await createPasswordHasher(config.argon2),
      policy: createPasswordPolicy(loadCommonPasswords()),
      audit: createPgAuditLog(db.write),
      log,
    });
    const probe: ReadinessProbe = {
      async check() {
        await Promise.all([db.write.query("SELECT 1"), redis.ping()]);
      },
    };

    const handler = createNodeHandler({
      log,
      routes(router) {
        router.service(AuthService, service);
        router.service(Health, createHealthService([AuthService.typeName], probe));
        router.service(ServerReflection, createReflectionService([AuthService, Health]));
      },
      interceptors: [createErrorInterceptor(log)],
      readMaxBytes: config.maxMessageBytes,
      maxTimeoutMs: 30_000,
      contextValues: (req) => createContextValues().set(kRequestMeta, requestMetaFrom(req, config.trustedProxies)),
      fallback(req: NodeRequest, res: NodeResponse) {
        const path = (req.url ?? "").split("?")[0];
        if (req.method === "GET" && path === "/.well-known/jwks.json") {
          sendJson(res, 200, keys.jwks(), { "cache-control": "public, max-age=300" });
        } else if (req.method === "GET" && path === "/healthz") {
          sendJson(res, 200, { status: "ok" });
        } else if (req.method === "GET" && path === "/readyz") {
          probe.check().then(
            () => sendJson(res, 200, { status: "ready" }),
            () => sendJson(res, 503, { status: "not ready" }),
          );
        } else {
          sendJson(res, 404, { code: "not_found", message: "no such route" });
        }
      },
    });

    const server = await listenDualProtocol(handler, config.host, config.port);
    closers.unshift(() => server.close());
    log.info({ host: config.host, port: server.port }, "auth service listening");
    return {
      port: server.port,
      url: `http://${config.host}:${server.port}`,
      async close() {
        for (const close of closers) await close();
      },
    };
  } catch (error) {
    for (const close of closers) await Promise.resolve(close()).catch(() => {});
    throw error;
  }
}
