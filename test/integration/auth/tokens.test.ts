import { Code } from "@connectrpc/connect";
import { createLocalJWKSet, generateKeyPair, importPKCS8, jwtVerify, SignJWT, type JSONWebKeySet } from "jose";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { decryptPrivateKey } from "../../../src/auth/tokens/key-crypto.js";
import { type TestAuth, bearer, newUser, startTestAuth } from "../../support/auth.js";
import { rejection } from "../../support/rpc-errors.js";

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("access tokens", () => {
  let auth: TestAuth;
  let primary: pg.Pool;
  let jwks: JSONWebKeySet;

  beforeAll(async () => {
    auth = await startTestAuth();
    primary = new pg.Pool({ connectionString: inject("stack").primaryUrl });
    jwks = (await (await fetch(`${auth.server.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
  });
  afterAll(async () => {
    await auth?.close();
    await primary?.end();
  });

  /** The real signing key, decrypted the way the service does, to mint tokens with chosen claims. */
  async function realKey(kid: string) {
    const row = (await primary.query<{ alg: string; enc: Buffer }>("SELECT alg, private_key_enc AS enc FROM signing_keys WHERE kid = $1", [kid])).rows[0];
    if (!row) throw new Error("no such key");
    const pem = decryptPrivateKey(Buffer.from(inject("stack").signingKeyEncryptionKey, "base64"), kid, row.enc);
    return { alg: row.alg, key: await importPKCS8(pem, row.alg) };
  }

  it("issues JWTs with the documented claims that verify against the published JWKS", async () => {
    const { tokens } = await newUser(auth.client);
    const { payload, protectedHeader } = await jwtVerify(tokens.accessToken, createLocalJWKSet(jwks), {
      issuer: auth.config.shared.issuer,
      audience: "auth-platform",
    });
    expect(protectedHeader).toMatchObject({ alg: "EdDSA", typ: "at+jwt" });
    expect(jwks.keys.map((k) => k.kid)).toContain(protectedHeader.kid);
    expect(Object.keys(payload).sort()).toEqual(["acr", "aud", "email_verified", "exp", "iat", "iss", "jti", "sid", "sub"]);
    expect(payload).toMatchObject({ acr: "basic", email_verified: false });
    expect(payload.sid).toBe(tokens.sessionId);
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(600);
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
  });

  it("refuses tampered, alg:none, wrong-key, HMAC-confused and expired tokens with UNAUTHENTICATED", async () => {
    const { tokens } = await newUser(auth.client);
    const other = await newUser(auth.client);
    const [header, payload, signature] = tokens.accessToken.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
    const headerJson = JSON.parse(Buffer.from(header, "base64url").toString());

    const tampered = `${header}.${b64({ ...claims, sub: JSON.parse(Buffer.from(other.tokens.accessToken.split(".")[1] as string, "base64url").toString()).sub })}.${signature}`;
    const none = `${b64({ alg: "none", typ: "at+jwt", kid: headerJson.kid })}.${payload}.`;
    const impostor = await generateKeyPair("EdDSA");
    const wrongKey = await new SignJWT(claims).setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", kid: headerJson.kid }).sign(impostor.privateKey);
    const publicJwk = jwks.keys.find((k) => k.kid === headerJson.kid);
    const hmac = await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: headerJson.kid })
      .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
    const past = await startTestAuth({}, { clock: { now: () => Date.now() - 3_600_000 } });
    const expired = (await newUser(past.client)).tokens.accessToken;
    await past.close();

    for (const [name, token, reason] of [
      ["tampered", tampered, /signature/],
      ["alg none", none, /invalid access token/],
      ["wrong key", wrongKey, /signature/],
      ["hmac confusion", hmac, /invalid access token/],
      ["expired", expired, /expired/],
      ["garbage", "a.b.c", /invalid access token/],
      ["overlong", "a".repeat(5000), /too long/],
    ] as const) {
      const error = await rejection(auth.client.getMe({}, bearer(token)));
      expect(error.code, name).toBe(Code.Unauthenticated);
      expect(error.rawMessage, name).toMatch(reason);
    }
  });

  it("checks issuer, audience, typ and required claims even with the real key", async () => {
    const { tokens } = await newUser(auth.client);
    const [header, payload] = tokens.accessToken.split(".") as [string, string];
    const { kid } = JSON.parse(Buffer.from(header, "base64url").toString());
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
    const { alg, key } = await realKey(kid);
    const sign = (c: Record<string, unknown>, typ = "at+jwt") => new SignJWT(c).setProtectedHeader({ alg, kid, typ }).sign(key);
    await expect(auth.client.getMe({}, bearer(await sign(claims)))).resolves.toBeTruthy();
    const { sid: _sid, ...noSid } = claims;
    for (const [name, token] of [
      ["wrong audience", await sign({ ...claims, aud: "someone-else" })],
      ["wrong issuer", await sign({ ...claims, iss: "https://evil.example" })],
      ["id token typ", await sign(claims, "JWT")],
      ["no sid", await sign(noSid)],
      ["sid of another user", await sign({ ...claims, sid: (await newUser(auth.client)).tokens.sessionId })],
    ] as const) {
      expect((await rejection(auth.client.getMe({}, bearer(token)))).code, name).toBe(Code.Unauthenticated);
    }
  });

  it("answers a header too large to parse with HTTP 431, not a crash", async () => {
    const res = await fetch(`${auth.server.url}/auth.v1.AuthService/GetMe`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${"a".repeat(100_000)}` },
      body: "{}",
    });
    expect(res.status).toBe(431);
    expect((await fetch(`${auth.server.url}/healthz`)).status).toBe(200);
  });

  it("refuses missing and malformed authorization metadata", async () => {
    for (const headers of [{} as Record<string, string>, { authorization: "Basic dXNlcjpwYXNz" }, { authorization: "Bearer" }, { authorization: "Bearer a b" }]) {
      const error = await rejection(auth.client.getMe({}, { headers }));
      expect(error.code).toBe(Code.Unauthenticated);
    }
  });

  it("publishes a JWKS the public can fetch without credentials", async () => {
    const res = await fetch(`${auth.server.url}/.well-known/jwks.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    const body = (await res.json()) as JSONWebKeySet;
    expect(body.keys.length).toBeGreaterThanOrEqual(1);
    for (const key of body.keys) expect(key).toMatchObject({ use: "sig", kty: expect.any(String), kid: expect.any(String) });
  });
});
