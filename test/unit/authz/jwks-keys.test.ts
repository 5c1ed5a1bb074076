import { generateKeyPairSync } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createJwksKeys, JwksUnavailable } from "../../../src/authz/jwks-keys.js";

const jwkOf = (kid: string) => ({ ...generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }), kid, alg: "EdDSA", use: "sig" });

describe("the authz server's key set", () => {
  let published = [jwkOf("k1")];
  let up = true;
  let fetches = 0;
  let server: http.Server;
  let url = "";

  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      fetches += 1;
      if (!up) return void res.writeHead(503).end();
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: published }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("stops trusting a set it cannot refetch once it is older than maxAge, and says when the published kids change", async () => {
    const t = { now: 1_000_000 };
    let changes = 0;
    const keys = createJwksKeys({ url, clock: { now: () => t.now }, timeoutMs: 1000, cooldownMs: 5000, maxAgeMs: 600_000, onKeysChanged: () => changes++ });
    expect(await keys.keyFor("k1", "EdDSA")).toBeDefined();
    expect(await keys.keyFor("k1", "ES256")).toBeUndefined();

    up = false;
    t.now += 60_000;
    expect(await keys.keyFor("k1", "EdDSA"), "within maxAge the loaded set serves").toBeDefined();
    t.now += 600_000;
    await expect(keys.keyFor("k1", "EdDSA")).rejects.toBeInstanceOf(JwksUnavailable);
    const beforeCooldown = fetches;
    await expect(keys.keyFor("k1", "EdDSA")).rejects.toBeInstanceOf(JwksUnavailable);
    expect(fetches, "a failed fetch is not retried before the cooldown").toBe(beforeCooldown);

    up = true;
    published = [jwkOf("k2")];
    t.now += 5_000;
    expect(await keys.keyFor("k2", "EdDSA")).toBeDefined();
    expect(await keys.keyFor("k1", "EdDSA"), "a withdrawn kid verifies nothing").toBeUndefined();
    expect(changes).toBe(1);
  });
});
