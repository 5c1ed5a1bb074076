import { randomInt, randomUUID } from "node:crypto";
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { inject } from "vitest";
import { startAuthServer, type AuthServer, type AuthServerOptions } from "../../src/auth/app.js";
import { AuthService } from "../../src/gen/auth/v1/auth_pb.js";
import { loadAuthConfig, type AuthConfig } from "../../src/auth/config.js";
import { createLogger } from "../../src/platform/log.js";
import { withRedisOverrides } from "./redis-matrix.js";

export type AuthClient = Client<typeof AuthService>;

export interface TestAuth {
  server: AuthServer;
  config: AuthConfig;
  /** Connect JSON over HTTP/1.1, as a browser or curl would speak. */
  client: AuthClient;
  transport: Transport;
  close(): Promise<void>;
}

/** The env an auth server gets in tests: the shared stack, free port, quiet logs. */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const stack = inject("stack");
  return withRedisOverrides({
    DATABASE_URL: stack.databaseUrl,
    DATABASE_PRIMARY_URL: stack.primaryUrl,
    DATABASE_REPLICA_URL: stack.replicaUrl,
    REDIS_URL: stack.redisUrl,
    SIGNING_KEY_ENCRYPTION_KEY: stack.signingKeyEncryptionKey,
    AUTH_PORT: "0",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    // Every test client speaks from 127.0.0.1, so the per-IP budgets would couple unrelated tests;
    // the tests of those limits set their own budgets and client IPs.
    RATE_LIMIT_SIGNUP_IP: "100000/1h",
    RATE_LIMIT_SIGNIN_IP: "100000/15m",
  }, overrides);
}

export async function startTestAuth(
  overrides: Record<string, string> = {},
  options: Partial<AuthServerOptions> = {},
): Promise<TestAuth> {
  const config = loadAuthConfig(testEnv(overrides));
  const server = await startAuthServer(config, { log: createLogger(config.logLevel), ...options });
  const transport = connectTransport(server.url);
  return { server, config, transport, client: createClient(AuthService, transport), close: () => server.close() };
}

export const connectTransport = (baseUrl: string, useBinaryFormat = false) =>
  createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat });
export const grpcTransport = (baseUrl: string) => createGrpcTransport({ baseUrl });
export const grpcWebTransport = (baseUrl: string) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" });

export const uniqueEmail = (tag = "user") => `${tag}-${randomUUID()}@example.com`;
export const GOOD_PASSWORD = "correct horse battery staple";

export const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

/** Signs up and signs in a fresh user. */
export async function newUser(client: AuthClient, password = GOOD_PASSWORD, userAgent?: string) {
  const email = uniqueEmail();
  await client.signUp({ email, password });
  const tokens = await client.signIn({ email, password }, userAgent ? { headers: { "user-agent": userAgent } } : {});
  return { email, password, tokens };
}

/** Marks the account's email verified in the database, for tests whose subject is not the mail flow (TOTP needs it). */
export async function markEmailVerified(auth: TestAuth, email: string): Promise<void> {
  const db = new pg.Client({ connectionString: auth.config.databaseUrl });
  await db.connect();
  try {
    await db.query("UPDATE users SET email_verified = true WHERE email = $1", [email]);
  } finally {
    await db.end();
  }
}

/** The subject of one of our access tokens, read without verifying (the test minted it). */
export const userIdOf = (jwt: string): string => JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString()).sub;

/** Servers in these tests trust the loopback peer as a proxy, so each client can speak from an IP of its own. */
export const TRUST_LOOPBACK = { TRUSTED_PROXIES: "127.0.0.1" };

/** A random documentation-range address, so rate-limit counters never collide between tests or runs. */
export const randomIp = () => `198.18.${randomInt(256)}.${randomInt(1, 255)}`;

/** A client whose requests arrive from `ip` (via X-Forwarded-For, believed from the trusted loopback peer). */
export function clientFrom(auth: TestAuth, ip: string): AuthClient {
  const forwardFor: Interceptor = (next) => (req) => {
    req.header.set("x-forwarded-for", ip);
    return next(req);
  };
  return createClient(AuthService, createConnectTransport({ baseUrl: auth.server.url, httpVersion: "1.1", interceptors: [forwardFor] }));
}
