import type { IncomingMessage, ServerResponse } from "node:http";
import { Counter, Gauge } from "prom-client";
import { createClient, createContextValues, type ServiceImpl } from "@connectrpc/connect";
import { AuthService } from "../gen/auth/v1/auth_pb.js";
import { PasskeyService } from "../gen/auth/v1/passkeys_pb.js";
import { SocialService } from "../gen/auth/v1/social_pb.js";
import { AdminService } from "../gen/auth/admin/v1/admin_pb.js";
import { composeAdminService } from "./admin/compose-admin.js";
import { createPgRoleStore } from "./roles/pg-role-store.js";
import { createRoleCopies } from "./roles/role-copies.js";
import { OAuthAdminService } from "../gen/auth/oauth/v1/oauth_admin_pb.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { systemClock, type Clock } from "../platform/clock.js";
import type { AuthConfig } from "./config.js";
import { createNodeHandler, type NodeRequest, type NodeResponse } from "../platform/connect-handler.js";
import { createDb } from "../platform/db.js";
import { listenDualProtocol } from "../platform/dual-protocol-server.js";
import { createHealthService, type ReadinessProbe } from "../platform/health.js";
import { createInProcessTransport } from "../platform/in-process-transport.js";
import { createErrorInterceptor, noStoreInterceptor } from "../platform/interceptors.js";
import { createLoadShedding } from "../platform/load-shedding.js";
import { deadlineInterceptor } from "../platform/request-deadline.js";
import type { Logger } from "../platform/log.js";
import { migrate } from "../platform/migrate.js";
import { createRedis, redisReady } from "../platform/redis.js";
import { createDurableWrites } from "../platform/redis-durable.js";
import { createReflectionService } from "../platform/reflection.js";
import { createRpcMetrics } from "../platform/rpc-metrics.js";
import { createTtlCache } from "../platform/ttl-cache.js";
import { traceDb } from "../platform/traced-db.js";
import { traceRedis } from "../platform/traced-redis.js";
import { tracingOff, type Tracing } from "../platform/tracing.js";
import { createTracingInterceptor } from "../platform/tracing-interceptor.js";
import type { AccessClaims } from "../contract/access-token-rules.js";
import { registerDataTierMetrics } from "../platform/data-tier-metrics.js";
import { registerOutboxMetrics } from "./mail/outbox-metrics.js";
import { startReplicaLagFloor } from "../platform/replica-lag-floor.js";
import { createReplicaReads } from "../platform/replica-reads.js";
import { kRequestMeta, requestMetaFrom } from "../platform/request-context.js";
import { createAbuseProtection } from "./abuse/abuse-protection.js";
import { createAuditService } from "./audit/audit-service.js";
import { createPgAuditTrail } from "./audit/pg-audit-trail.js";
import { createRequestAudit } from "./audit/request-audit.js";
import { createLifecycleService } from "./lifecycle/lifecycle-service.js";
import { createPgAccountWrites } from "./lifecycle/pg-account-writes.js";
import { createMailTemplates } from "./mail/templates.js";
import { createMfaService } from "./mfa/mfa-service.js";
import { createPgMfaStore } from "./mfa/pg-mfa-store.js";
import { createSecondFactor } from "./mfa/second-factor.js";
import { createSignInChallenges } from "./mfa/sign-in-challenges.js";
import { createTotp } from "./mfa/totp.js";
import { createPgAuditLog } from "./audit/pg-audit-log.js";
import { createAuthService } from "./auth-service.js";
import { createAuthenticator } from "./authenticate.js";
import { createHostedPages } from "./pages/hosted-pages.js";
import { createCsrf } from "./pages/forms.js";
import { createOAuthServer } from "./oauth/oauth-server.js";
import { withHashLoad } from "./passwords/hasher-load.js";
import { createPasswordHasher } from "./passwords/password-hasher.js";
import { createPasskeyService } from "./passkeys/passkey-service.js";
import { createPgPasskeyStore } from "./passkeys/pg-passkey-store.js";
import { createWebAuthnChallenges } from "./passkeys/webauthn-challenges.js";
import { composeSocialService } from "./social/compose-social.js";
import { createPasswordPolicy, loadCommonPasswords } from "./passwords/password-policy.js";
import { createRecentProof } from "./recent-proof.js";
import { createRangeLookup } from "./passwords/breached-passwords.js";
import { hostPrefixed } from "../contract/shared-settings.js";
import { startActiveSessions } from "./sessions/active-sessions.js";
import { createDeviceOf } from "./sessions/device-of.js";
import { createRedisSessionStore } from "./sessions/redis-session-store.js";
import { createSessionRevocations, startRevocationSweeper } from "./sessions/session-revocations.js";
import { createAccessTokens } from "./tokens/access-tokens.js";
import { createKeyRing } from "./tokens/key-ring.js";
import { createPgSigningKeyStore } from "./tokens/signing-key-store.js";
import { createCachedUserStore } from "./users/cached-user-store.js";
import { createPgUserStore } from "./users/pg-user-store.js";
import { createUserWritten } from "./users/user-written.js";

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
  /** Spans for RPCs and their Postgres and Redis calls (src/platform/tracing.ts); default off. */
  tracing?: Tracing;
  /** How often auth_active_sessions is counted (a SCAN of Redis); default a minute. */
  activeSessionsCountMs?: number;
}


// A WebAuthn ceremony's time to answer (the options' own timeout is 60 s; people are slower).
const WEBAUTHN_CHALLENGE_TTL_MS = 5 * 60_000;

// How often the primary's WAL position is sampled for the replica lag bound.
const LAG_SAMPLE_MS = 1000;

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

  const tracing = options.tracing ?? tracingOff;
  const db = traceDb(createDb({
    writeUrl: config.databaseUrl,
    readUrl: config.databaseReplicaUrl,
    onError: (error) => log.warn({ err: error }, "database connection lost; will reconnect"),
  }), tracing);
  const onRedisError = (error: Error) => log.warn({ err: error.message }, "redis error");
  const redis = traceRedis(createRedis(config.redis, { onError: onRedisError }), tracing);
  // A WAIT holds its connection until the replicas answer: durable writes get their own, so a missing replica stalls only them.
  const waits = config.redisDurability.replicas > 0;
  const durableRedis = waits ? traceRedis(createRedis(config.redis, { commandTimeoutMs: config.redisDurability.timeoutMs + 1000, onError: onRedisError }), tracing) : redis;
  const closers: Array<() => Promise<unknown> | void> = [() => db.close(), ...[...new Set([redis, durableRedis])].map((r) => () => r.quit().catch(() => r.disconnect()))];
  try {
    await Promise.all([redisReady(redis, config.redis), redisReady(durableRedis, config.redis)]);
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
      durable: createDurableWrites(durableRedis, config.redisDurability),
      clock,
      idleTtlMs: config.sessionIdleTtlMs,
      absoluteTtlMs: config.sessionAbsoluteTtlMs,
      reuseGraceMs: options.refreshReuseGraceMs ?? 2_000,
    });
    const roles = createPgRoleStore(db.write);
    // A copy read with a session must outlive it.
    const roleCopies = createRoleCopies({ redis, store: roles, ttlMs: config.sessionAbsoluteTtlMs });
    const tokens = createAccessTokens({ keys, issuer: config.shared.issuer, audience: config.shared.audience, ttlMs: config.accessTokenTtlMs, clock, rolesOf: roleCopies.rolesOf });
    const lagFloor =
      db.read === db.write ? undefined : startReplicaLagFloor({ primary: db.write, maxLagMs: config.maxReplicaLagMs, sampleEveryMs: LAG_SAMPLE_MS, log });
    if (lagFloor) closers.unshift(() => lagFloor.close());
    // The mark outlives the lag bound, so a user's write is visible to them on whichever server answers.
    const ownReads = createReplicaReads({ write: db.write, read: db.read, redis, log, ...(lagFloor ? { lagFloor } : {}), ttlMs: Math.max(60_000, 2 * (config.maxReplicaLagMs + LAG_SAMPLE_MS)) });
    const users = createCachedUserStore({ inner: createPgUserStore(db.write, ownReads), redis, ttlMs: config.userCacheTtlMs, profiles: config.profileCache });
    // A minute bounds how long a token signed by a key withdrawn from the ring still passes here.
    const verifiedTokens = config.verifiedTokenCache ? createTtlCache<AccessClaims>({ clock, ttlMs: 60_000, maxEntries: 100_000, maxBytes: 32 * 1024 * 1024 }) : undefined;
    if (verifiedTokens) closers.unshift(async () => verifiedTokens.close());
    const authenticator = createAuthenticator({ tokens, sessions, ...(verifiedTokens ? { verified: { cache: verifiedTokens, clock } } : {}) });
    const metrics = createRpcMetrics("auth");
    const load = withHashLoad(await createPasswordHasher(config.argon2));
    const hasher = load.hasher;
    new Gauge({
      name: "auth_password_hashes_in_flight",
      help: "argon2id hashes and verifies under way (libuv runs 4 at once; more means sign-ins queue for CPU)",
      registers: [metrics.registry],
      collect() {
        this.set(load.inFlight());
      },
    });
    const refusals = new Counter({
      name: "auth_rate_limited_total",
      help: "Requests a budget refused (RESOURCE_EXHAUSTED), by budget",
      labelNames: ["limiter"] as const,
      registers: [metrics.registry],
    });
    const breached = config.passwordBreachCheckUrl ? createRangeLookup({ baseUrl: config.passwordBreachCheckUrl, timeoutMs: 2_000, log }) : undefined;
    const policy = createPasswordPolicy(loadCommonPasswords(), breached);
    const auditLog = createPgAuditLog(db.write);
    const abuse = createAbuseProtection({ redis, clock, rateLimits: config.rateLimits, lockout: config.lockout, onRefused: (limiter) => refusals.inc({ limiter }) });
    const templates = createMailTemplates({ publicBaseUrl: config.shared.publicBaseUrl });
    const userWritten = createUserWritten({ ownReads, users });
    const revocations = createSessionRevocations({ primary: db.write, sessions, clock, log });
    const sweeper = startRevocationSweeper({ revocations, intervalMs: config.revocationSweepIntervalMs, log });
    closers.unshift(() => sweeper.close());
    const accounts = createPgAccountWrites({
      primary: db.write,
      revocations,
      templates,
      verifyEmailTokenTtlMs: config.verifyEmailTokenTtlMs,
      resetTokenTtlMs: config.resetTokenTtlMs,
      changeEmailTokenTtlMs: config.changeEmailTokenTtlMs,
      userWritten,
    });
    const mfaStore = createPgMfaStore({ primary: db.write, templates });
    const totp = createTotp({ issuer: config.mfaIssuer });
    const secondFactor = createSecondFactor({ store: mfaStore, totp, key: config.mfaEncryptionKey, clock });
    const challenges = createSignInChallenges({ redis, ttlMs: config.mfaChallengeTtlMs, maxAttempts: config.mfaChallengeAttempts });
    const audit = createRequestAudit(auditLog, log);
    const deviceOf = createDeviceOf(config.shared.deviceBinding);
    const recentProof = createRecentProof({ abuse, hasher, audit, sessions, clock, maxAgeMs: config.reauthMaxAgeMs });
    const service: ServiceImpl<typeof AuthService> = {
      ...createAuthService({ users, sessions, tokens, authenticator, hasher, policy, audit, abuse, accounts, secondFactor, challenges, deviceOf, recentProof, clock }),
      ...createLifecycleService({ users, accounts, sessions, authenticator, hasher, policy, abuse, audit, recentProof }),
      ...createMfaService({ users, store: mfaStore, factor: secondFactor, totp, challenges, sessions, tokens, authenticator, abuse, audit, deviceOf, recentProof }),
      ...createAuditService({ authenticator, trail: createPgAuditTrail(db.write) }),
    };
    const publicUrl = new URL(config.shared.publicBaseUrl);
    const passkeys = createPasskeyService({
      users,
      store: createPgPasskeyStore(db.write),
      challenges: createWebAuthnChallenges({ redis, ttlMs: WEBAUTHN_CHALLENGE_TTL_MS }),
      signIns: challenges,
      secondFactor,
      sessions,
      tokens,
      authenticator,
      abuse,
      audit,
      deviceOf,
      recentProof,
      clock,
      rp: { id: publicUrl.hostname, name: config.mfaIssuer, origin: publicUrl.origin },
    });
    const social = composeSocialService({
      config: config.social,
      publicBaseUrl: config.shared.publicBaseUrl,
      primary: db.write,
      redis,
      users,
      sessions,
      tokens,
      authenticator,
      hasher,
      abuse,
      audit,
      secondFactor,
      challenges,
      deviceOf,
      recentProof,
      clock,
      accountWritten: userWritten,
      revocations,
      templates,
    });
    const admin = composeAdminService({
      primary: db.write,
      redis,
      clock,
      sessions,
      users,
      roles,
      roleCopies,
      revocations,
      templates,
      resetTokenTtlMs: config.resetTokenTtlMs,
      userWritten,
      authenticator,
      mfa: mfaStore,
      trail: createPgAuditTrail(db.write),
      audit,
      hasher,
      pseudonymKey: config.auditPseudonymKey,
    });
    let draining = () => false;
    const probe: ReadinessProbe = {
      async check() {
        // From SIGTERM on, load balancers are told to send nothing new while work in flight finishes.
        if (draining()) throw new Error("draining");
        await Promise.all([db.write.query("SELECT 1"), redis.ping()]);
      },
    };

    registerDataTierMetrics(metrics.registry, { prefix: "auth", db, redis });
    registerOutboxMetrics(metrics.registry, db.write);
    const activeSessions = startActiveSessions({ redis, registry: metrics.registry, intervalMs: options.activeSessionsCountMs ?? 60_000, log });
    closers.unshift(() => activeSessions.close());
    const shedding = createLoadShedding({ pools: db.read === db.write ? [db.write] : [db.write, db.read], maxQueued: config.dbMaxQueued });
    const interceptors = [noStoreInterceptor, metrics.interceptor, createErrorInterceptor(log), shedding, deadlineInterceptor];
    const inProcess = createInProcessTransport(({ service: register }) => {
      register(AuthService, service);
      register(PasskeyService, passkeys);
      register(SocialService, social);
    }, interceptors);
    const pages = createHostedPages({
      auth: createClient(AuthService, inProcess),
      passkeys: createClient(PasskeyService, inProcess),
      social: createClient(SocialService, inProcess),
      socialProviders: config.social.providers,
      tokens,
      totpEnabled: (userId) => secondFactor.required(userId),
      sessions,
      cookie: { name: config.shared.sessionCookieName, secure: config.sessionCookieSecure, maxAgeMs: config.sessionAbsoluteTtlMs },
      forms: {
        csrfCookieName: hostPrefixed("auth_csrf", config.shared.publicBaseUrl),
        socialCookieName: hostPrefixed("auth_social", config.shared.publicBaseUrl),
        csrfKey: config.csrfKey,
        publicOrigin: new URL(config.shared.publicBaseUrl).origin,
      },
      log,
    });

    const oauth = createOAuthServer({
      issuer: config.shared.issuer,
      publicBaseUrl: config.shared.publicBaseUrl,
      config: config.oauth,
      keys,
      alg: config.signingKeyAlg,
      primary: db.write,
      users,
      sessions,
      sessionCookie: config.shared.sessionCookieName,
      csrf: createCsrf({ cookieName: hostPrefixed("auth_csrf", config.shared.publicBaseUrl), secure: config.sessionCookieSecure, key: config.csrfKey, publicOrigin: new URL(config.shared.publicBaseUrl).origin }),
      log,
    });
    closers.unshift(() => oauth.close());

    const handler = createNodeHandler({
      log,
      routes(router) {
        router.service(AuthService, service);
        router.service(PasskeyService, passkeys);
        router.service(SocialService, social);
        router.service(AdminService, admin);
        router.service(OAuthAdminService, oauth.adminService);
        router.service(Health, createHealthService([AuthService.typeName, PasskeyService.typeName, SocialService.typeName, AdminService.typeName, OAuthAdminService.typeName], probe));
        router.service(ServerReflection, createReflectionService([AuthService, PasskeyService, SocialService, AdminService, OAuthAdminService, Health]));
      },
      // The hosted pages' own calls (above) are not traced: they carry no traceparent of their own.
      interceptors: tracing.enabled ? [createTracingInterceptor(tracing), ...interceptors] : interceptors,
      readMaxBytes: config.maxMessageBytes,
      maxTimeoutMs: 30_000,
      contextValues: (req) => createContextValues().set(kRequestMeta, requestMetaFrom(req, config.trustedProxies)),
      fallback(req: NodeRequest, res: NodeResponse) {
        const path = (req.url ?? "").split("?")[0];
        if (req.method === "GET" && path === "/.well-known/jwks.json") {
          sendJson(res, 200, keys.jwks(), { "cache-control": "public, max-age=300" });
        } else if (req.method === "GET" && path === "/.well-known/oauth-authorization-server") {
          // RFC 8414 3.2, the minimum: which issuer this instance signs as (authz refuses to start on
          // another) and where its keys are published.
          sendJson(res, 200, { issuer: config.shared.issuer, jwks_uri: `${config.shared.publicBaseUrl}/.well-known/jwks.json` }, { "cache-control": "public, max-age=300" });
        } else if (req.method === "GET" && path === "/metrics") {
          metrics.registry.metrics().then(
            (text) => {
              (res as ServerResponse).writeHead(200, { "content-type": metrics.registry.contentType });
              res.end(text);
            },
            () => sendJson(res, 500, { code: "internal", message: "metrics unavailable" }),
          );
        } else if (req.method === "GET" && path === "/healthz") {
          sendJson(res, 200, { status: "ok" });
        } else if (req.method === "GET" && path === "/readyz") {
          probe.check().then(
            () => sendJson(res, 200, { status: "ready" }),
            () => sendJson(res, 503, { status: "not ready" }),
          );
        } else if (!oauth.handle(req as IncomingMessage, res as ServerResponse) && !pages.handle(req as IncomingMessage, res as ServerResponse, requestMetaFrom(req, config.trustedProxies))) {
          sendJson(res, 404, { code: "not_found", message: "no such route" });
        }
      },
    });

    const server = await listenDualProtocol(handler, config.host, config.port, config.listener, config.trustedProxies);
    draining = server.draining;
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
