import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import pg from "pg";
import { createClientAdmin } from "../../../src/auth/oauth/client-admin.js";
import { createClientRegistry } from "../../../src/auth/oauth/client-registry.js";
import { createGrantSessions } from "../../../src/auth/oauth/grant-sessions.js";
import { runOAuthCommand } from "../../../src/auth/oauth/oauth-cli.js";
import { createRedisSessionStore } from "../../../src/auth/sessions/redis-session-store.js";
import { systemClock } from "../../../src/platform/clock.js";
import { createRedis } from "../../../src/platform/redis.js";
import { createDurableWrites } from "../../../src/platform/redis-durable.js";
import { Code, createClient } from "@connectrpc/connect";
import { OAuthAdminService } from "../../../src/gen/auth/oauth/v1/oauth_admin_pb.js";
import { bearer, connectTransport, grpcTransport, type TestAuth } from "../../support/auth.js";
import { codeOf } from "../../support/rpc-errors.js";
import { discover, keyValues, oauthCli, startOAuthAuth, TEST_RESOURCE } from "../../support/oauth.js";

let auth: TestAuth & { baseUrl: string };
let redis: ReturnType<typeof createRedis>;
let db: pg.Pool;
let admin: ReturnType<typeof createClientAdmin>;
/** The CLI's commands in this process, over the real stores: a process start per command would cost seconds each. */
const run = async (args: string[]) => (await runOAuthCommand(args, admin, () => "{}")).join("\n") + "\n";
const ADMIN_TOKEN = "admin-token-0123456789-abcdefghijklmnop";

beforeAll(async () => {
  auth = await startOAuthAuth({ OAUTH_ADMIN_TOKEN: ADMIN_TOKEN });
  redis = createRedis(auth.config.redis);
  db = new pg.Pool({ connectionString: auth.config.databaseUrl, max: 2 });
  const sessions = createRedisSessionStore({ redis, durable: createDurableWrites(redis, auth.config.redisDurability), clock: systemClock, idleTtlMs: 60_000, absoluteTtlMs: 60_000, reuseGraceMs: 0 });
  admin = createClientAdmin({ registry: createClientRegistry(db), grants: createGrantSessions({ primary: db, sessions }) });
});
afterAll(async () => {
  await db?.end();
  redis?.disconnect();
  await auth?.close();
});

describe("npm run oauth", () => {
  it("creates a confidential client whose secret works, lists it, rotates the secret and deletes it", async () => {
    const created = await oauthCli(auth, ["create-client", "--name", "Billing", "--grant", "client_credentials", "--scope", "api.read"]);
    expect(created.code, created.stderr).toBe(0);
    const { CLIENT_ID, CLIENT_SECRET } = keyValues(created.stdout);
    expect(CLIENT_ID).toMatch(/^c_/);
    expect(CLIENT_SECRET).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const grant = async (secret: string) => oidc.clientCredentialsGrant(await discover(auth.baseUrl, CLIENT_ID!, oidc.ClientSecretBasic(secret)), { scope: "api.read", resource: TEST_RESOURCE });
    expect((await grant(CLIENT_SECRET!)).access_token).toBeTruthy();

    // Stored hashed: the secret itself is nowhere in the database.
    const db = new pg.Client({ connectionString: auth.config.databaseUrl });
    await db.connect();
    const row = await db.query("SELECT row_to_json(c)::text AS text FROM oauth_clients c WHERE client_id = $1", [CLIENT_ID]).finally(() => db.end());
    expect(row.rows[0].text).not.toContain(CLIENT_SECRET);
    expect(row.rows[0].text).not.toContain(Buffer.from(CLIENT_SECRET!).toString("hex"));
    expect(await run(["list"])).toContain(`${CLIENT_ID}\tBilling\tgrants=client_credentials\tauth=client_secret_basic`);

    const rotated = keyValues(await run(["rotate-secret", CLIENT_ID!]));
    expect(rotated.CLIENT_SECRET).not.toBe(CLIENT_SECRET);
    await expect(grant(CLIENT_SECRET!)).rejects.toThrow();
    expect((await grant(rotated.CLIENT_SECRET!)).access_token).toBeTruthy();

    expect(await run(["delete", CLIENT_ID!])).toBe(`DELETED=${CLIENT_ID}\n`);
    await expect(grant(rotated.CLIENT_SECRET!)).rejects.toThrow();
    await expect(run(["delete", CLIENT_ID!])).rejects.toThrow("no such OAuth client");
  });

  it("creates a public client: no secret, redirect URIs required", async () => {
    const created = await run(["create-client", "--name", "SPA", "--grant", "authorization_code", "--grant", "refresh_token", "--redirect-uri", "https://spa.example/cb", "--scope", "openid", "--public"]);
    expect(Object.keys(keyValues(created))).toEqual(["CLIENT_ID"]);
    await expect(run(["create-client", "--name", "SPA", "--grant", "authorization_code", "--public"])).rejects.toThrow("authorization_code needs at least one redirect URI");
  });

  it("refuses bad input with a clear message and no stack", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["create-client", "--grant", "client_credentials"], /--name is required/],
      [["create-client", "--name", "X", "--grant", "password"], /unknown grant type "password"/],
      [["create-client", "--name", "X", "--grant", "authorization_code", "--redirect-uri", "not a url"], /is not an absolute URL/],
      [["create-client", "--name", "X", "--grant", "authorization_code", "--redirect-uri", "https://a.example/cb#frag"], /must not have a fragment/],
      [["create-client", "--name", "X", "--grant", "client_credentials", "--public"], /public client cannot use client_credentials/],
      [["create-client", "--name", "X".repeat(101), "--grant", "client_credentials"], /name must be 1-100 printable characters/],
      [["create-client", "--name", "X", "--grant", "client_credentials", "--scope", 'bad"scope'], /not a valid scope token/],
      [["create-client", "--name", "X", "--grant", "client_credentials", "--jwks", '{"keys":[{"kty":"EC","d":"secret"}]}'], /public keys only/],
      [["create-client", "--name", "X", "--bogus"], /Unknown option '--bogus'/],
      [["rotate-secret", "c_nope"], /no such OAuth client/],
      [["delete"], /unknown command or arguments/],
      [["frobnicate"], /unknown command/],
    ];
    for (const [args, message] of cases) await expect(run(args), args.join(" ")).rejects.toThrow(message);
    // The process itself: a refused input exits 1 and a usage error 2, with the message (and the usage), never a stack.
    const answer = await oauthCli(auth, ["create-client", "--name", "X", "--grant", "password"]);
    expect(answer).toMatchObject({ code: 1, stderr: 'oauth: unknown grant type "password": one of authorization_code, client_credentials, refresh_token\n' });
    const usage = await oauthCli(auth, ["frobnicate"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("usage: npm run oauth -- <command>");
  });
});

describe("auth.oauth.v1.OAuthAdminService", () => {
  it("needs the admin token, then manages clients as the CLI does", async () => {
    const admin = createClient(OAuthAdminService, connectTransport(auth.server.url));
    expect(await codeOf(admin.listClients({}))).toBe(Code.Unauthenticated);
    expect(await codeOf(admin.listClients({}, bearer("x".repeat(ADMIN_TOKEN.length))))).toBe(Code.Unauthenticated);
    const as = bearer(ADMIN_TOKEN);
    const created = await admin.createClient({ name: "Reports", grantTypes: ["client_credentials"], scopes: ["api.read"] }, as);
    const config = await discover(auth.baseUrl, created.clientId, oidc.ClientSecretBasic(created.clientSecret));
    expect((await oidc.clientCredentialsGrant(config, { scope: "api.read", resource: TEST_RESOURCE })).access_token).toBeTruthy();
    // gRPC too: the same handler speaks every protocol.
    const overGrpc = createClient(OAuthAdminService, grpcTransport(auth.server.url));
    const { clients } = await overGrpc.listClients({}, as);
    expect(clients.find((c) => c.clientId === created.clientId)).toMatchObject({ name: "Reports", grantTypes: ["client_credentials"], tokenEndpointAuthMethod: "client_secret_basic" });
    const { clientSecret } = await admin.rotateClientSecret({ clientId: created.clientId }, as);
    expect(clientSecret).not.toBe(created.clientSecret);
    await admin.deleteClient({ clientId: created.clientId }, as);
    expect(await codeOf(admin.deleteClient({ clientId: created.clientId }, as))).toBe(Code.NotFound);
  });

  it("refuses malformed, oversized and hostile input", async () => {
    const admin = createClient(OAuthAdminService, connectTransport(auth.server.url));
    const as = bearer(ADMIN_TOKEN);
    const bad = [
      { name: "", grantTypes: ["client_credentials"] },
      { name: "X", grantTypes: ["implicit"] },
      { name: "X", grantTypes: ["authorization_code"], redirectUris: ["javascript:alert(1)#x"] },
      { name: "X", grantTypes: ["authorization_code"], redirectUris: Array.from({ length: 11 }, (_, i) => `https://a.example/${i}`) },
      { name: "X", grantTypes: ["client_credentials"], jwksJson: "{nope" },
      { name: "X", grantTypes: ["client_credentials"], jwksJson: `{"keys":[${'{"kty":"EC"},'.repeat(2000)}{}]}` },
      { name: "<script>", grantTypes: ["client_credentials"], scopes: ["a b"] },
    ];
    for (const input of bad) expect(await codeOf(admin.createClient(input, as)), JSON.stringify(input).slice(0, 80)).toBe(Code.InvalidArgument);
    expect(await codeOf(admin.rotateClientSecret({ clientId: "'; DROP TABLE oauth_clients; --" }, as))).toBe(Code.NotFound);
    const huge = await fetch(`${auth.server.url}/auth.oauth.v1.OAuthAdminService/CreateClient`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ name: "x".repeat(200_000) }),
    });
    expect(huge.status).toBe(429);
  });
});
