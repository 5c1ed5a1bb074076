import { generateKeyPairSync, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createAccessTokens } from "../../../src/auth/tokens/access-tokens.js";
import type { KeyRing } from "../../../src/auth/tokens/key-ring.js";
import { createTokenVerifier, type TokenClaims } from "../../../src/authz/token-verifier.js";
import { createTtlCache } from "../../../src/platform/ttl-cache.js";

const NOW = 1_800_000_000_000;
const clock = { now: () => NOW };
const ISSUER = "https://auth.example";
const OURS = "auth-platform";
const RESOURCE = "https://orders.example";
const ed = generateKeyPairSync("ed25519");
const keys = (kid: string, alg: string) => (kid === "ed-1" && alg === "EdDSA" ? ed.publicKey : undefined);

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
/** Signed with the platform's key: what oidc-provider issues to a client, or what we issue to a user. */
function token(payload: Record<string, unknown>): string {
  const input = `${b64({ alg: "EdDSA", typ: "at+jwt", kid: "ed-1" })}.${b64({ iss: ISSUER, sub: "user-1", sid: "AAAAAAAAAAAAAAAAAAAAAA", jti: "t-1", iat: NOW / 1000 - 10, exp: NOW / 1000 + 600, ...payload })}`;
  return `${input}.${sign(null, Buffer.from(input), ed.privateKey).toString("base64url")}`;
}

/**
 * oidc-provider signs a client's tokens with the platform's own keys and issuer, and its tokens name a
 * live session (sid): only client_id (RFC 9068 2.2) tells them from the user's own. Were a resource
 * named like our audience, a client holding the user's consent would act as the user on our API.
 */
describe("a token issued to an OAuth client never passes as the user's own", () => {
  const verifier = createTokenVerifier({
    keys,
    issuer: ISSUER,
    audience: OURS,
    oauthAudiences: [RESOURCE],
    clock,
    cache: createTtlCache<TokenClaims>({ clock, ttlMs: 60_000, maxEntries: 100 }),
  });

  it("at the Check: for its resource only, and never as a session token, whatever else its aud names", async () => {
    expect(await verifier.verify(token({ aud: OURS }))).toMatchObject({ ok: true, claims: { userId: "user-1" } });
    expect(((await verifier.verify(token({ aud: OURS }))) as { claims: TokenClaims }).claims.delegation).toBeUndefined();
    expect(await verifier.verify(token({ aud: RESOURCE, client_id: "c1" }))).toMatchObject({ ok: true, claims: { delegation: { clientId: "c1", audience: RESOURCE, scope: "" } } });
    expect(await verifier.verify(token({ aud: OURS, client_id: "c1" }))).toEqual({ ok: false, reason: "invalid_token" });
    expect(await verifier.verify(token({ aud: [OURS, RESOURCE], client_id: "c1" }))).toMatchObject({ ok: true, claims: { delegation: { audience: RESOURCE } } });
    // Without client_id a token for a resource is not one of ours either.
    expect(await verifier.verify(token({ aud: RESOURCE }))).toEqual({ ok: false, reason: "invalid_token" });
    expect(await verifier.verify(token({ aud: RESOURCE, client_id: 42 }))).toEqual({ ok: false, reason: "invalid_token" });
  });

  it("at the Check: the granted scope travels with the delegation, and only a header-safe client_id and scope are accepted", async () => {
    expect(await verifier.verify(token({ aud: RESOURCE, client_id: "c1", scope: "api.read api.write" }))).toMatchObject({
      ok: true,
      claims: { delegation: { clientId: "c1", audience: RESOURCE, scope: "api.read api.write" } },
    });
    // Signed by us or not, these would reach upstreams as headers: a line break would forge one.
    for (const claims of [{ scope: "api.read\r\nx-user-id: admin" }, { scope: 'a"b' }, { scope: " api.read" }, { scope: 7 }, { client_id: "c1\nx-user-id: admin" }, { client_id: "c 1" }, { client_id: "" }]) {
      expect(await verifier.verify(token({ aud: RESOURCE, client_id: "c1", ...claims })), JSON.stringify(claims)).toEqual({ ok: false, reason: "invalid_token" });
    }
  });

  it("at the auth service's own RPCs: refused", async () => {
    const ring = { verificationKey: keys, algorithms: () => ["EdDSA"] } as unknown as KeyRing;
    const tokens = createAccessTokens({ keys: ring, issuer: ISSUER, audience: OURS, ttlMs: 600_000, clock });
    await expect(tokens.verify(token({ aud: OURS }))).resolves.toMatchObject({ userId: "user-1" });
    await expect(tokens.verify(token({ aud: OURS, client_id: "c1" }))).rejects.toThrow(/issued to an OAuth client/);
  });
});
