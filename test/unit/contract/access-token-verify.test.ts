import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { SignJWT, importJWK } from "jose";
import { describe, expect, it } from "vitest";
import { SIGNING_ALGORITHMS } from "../../../src/contract/access-token-rules.js";
import { TokenRefused, verifyAccessToken, type TokenRefusal } from "../../../src/contract/access-token-verify.js";

const NOW = 1_800_000_000_000;
const rules = { algorithms: SIGNING_ALGORITHMS, issuer: "https://auth.example", audience: "auth-platform", now: NOW };
const ed = generateKeyPairSync("ed25519");
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const impostor = generateKeyPairSync("ed25519");
const published = new Map<string, { alg: string; key: KeyObject }>([
  ["ed-1", { alg: "EdDSA", key: ed.publicKey }],
  ["ec-1", { alg: "ES256", key: ec.publicKey }],
]);
const keys = (kid: string, alg: string) => {
  const found = published.get(kid);
  return found && found.alg === alg ? found.key : undefined;
};

const claims = { iss: rules.issuer, aud: rules.audience, sub: "user-1", sid: "AAAAAAAAAAAAAAAAAAAAAA", jti: "t-1", iat: NOW / 1000 - 10, exp: NOW / 1000 + 600 };
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A compact JWS signed with node:crypto, so headers and payloads can be anything a forger sends. */
function forge(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject = ed.privateKey): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const signature = header.alg === "ES256" ? sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" }) : sign(null, Buffer.from(input), key);
  return `${input}.${signature.toString("base64url")}`;
}
const edHeader = { alg: "EdDSA", typ: "at+jwt", kid: "ed-1" };

async function refusal(token: string): Promise<TokenRefusal> {
  try {
    await verifyAccessToken(token, keys, rules);
  } catch (error) {
    if (error instanceof TokenRefused) return error.code;
    throw error;
  }
  throw new Error("the token was accepted");
}

describe("verifyAccessToken (node:crypto keys, every claim check)", () => {
  it("accepts our tokens signed with EdDSA or ES256, as jose signs them", async () => {
    const viaJose = await new SignJWT({ sid: claims.sid, acr: "mfa", email_verified: true })
      .setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", kid: "ed-1" })
      .setIssuer(rules.issuer)
      .setAudience(rules.audience)
      .setSubject("user-1")
      .setJti("t-2")
      .setIssuedAt(claims.iat)
      .setExpirationTime(claims.exp)
      .sign(await importJWK(ed.privateKey.export({ format: "jwk" }), "EdDSA"));
    expect(await verifyAccessToken(viaJose, keys, rules)).toEqual({ userId: "user-1", sessionId: claims.sid, tokenId: "t-2", issuedAt: claims.iat, expiresAt: claims.exp, acr: "mfa", emailVerified: true, roles: [] });
    const es = forge({ alg: "ES256", typ: "at+jwt", kid: "ec-1" }, claims, ec.privateKey);
    expect((await verifyAccessToken(es, keys, rules)).userId).toBe("user-1");
    expect((await verifyAccessToken(forge({ ...edHeader, typ: "application/AT+JWT" }, { ...claims, aud: ["other", rules.audience] }), keys, rules)).acr).toBe("basic");
  });

  it("refuses forged signatures and algorithm tricks", async () => {
    const good = forge(edHeader, claims);
    const [h, , s] = good.split(".");
    expect(await refusal(`${h}.${b64({ ...claims, sub: "admin" })}.${s}`)).toBe("signature_invalid");
    expect(await refusal(forge(edHeader, claims, impostor.privateKey))).toBe("signature_invalid");
    expect(await refusal(`${b64({ ...edHeader, alg: "none" })}.${b64(claims)}.`)).toBe("malformed");
    expect(await refusal(`${b64({ ...edHeader, alg: "none" })}.${b64(claims)}.AAAA`)).toBe("alg_not_allowed");
    const hmacKey = await importJWK({ ...ed.publicKey.export({ format: "jwk" }), kty: "oct", k: Buffer.from(JSON.stringify(ed.publicKey.export({ format: "jwk" }))).toString("base64url") }, "HS256");
    expect(await refusal(await new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: "ed-1" }).sign(hmacKey))).toBe("alg_not_allowed");
    // The EC key's kid under an EdDSA header: the key's type must be the algorithm's.
    expect(await refusal(forge({ ...edHeader, kid: "ec-1" }, claims))).toBe("unknown_key");
    expect(await refusal(forge({ ...edHeader, kid: "nobody" }, claims))).toBe("unknown_key");
    expect(await refusal(forge({ alg: "EdDSA", typ: "at+jwt" }, claims))).toBe("unknown_key");
    const der = sign("sha256", Buffer.from(`${b64({ alg: "ES256", typ: "at+jwt", kid: "ec-1" })}.${b64(claims)}`), ec.privateKey).toString("base64url");
    expect(await refusal(`${b64({ alg: "ES256", typ: "at+jwt", kid: "ec-1" })}.${b64(claims)}.${der}`)).toBe("signature_invalid");
    expect(await refusal(forge({ ...edHeader, crit: ["exp"] }, claims))).toBe("unsupported_header");
    // The same signature spelled with other unused low bits in its last character: one spelling per token.
    // (86 characters carry 64 bytes: the last one's 4 low bits are unused, so it is one of A, Q, g, w.)
    const respelled = `${good.slice(0, -1)}${String.fromCharCode(s!.charCodeAt(s!.length - 1) + 1)}`;
    expect(Buffer.from(respelled.split(".")[2]!, "base64url")).toEqual(Buffer.from(s!, "base64url"));
    expect(await refusal(respelled)).toBe("malformed");
  });

  it("refuses other token types and broken shapes", async () => {
    expect(await refusal(forge({ ...edHeader, typ: "JWT" }, claims))).toBe("wrong_type");
    expect(await refusal(forge({ alg: "EdDSA", kid: "ed-1" }, claims))).toBe("wrong_type");
    expect(await refusal("a.b.c")).toBe("malformed");
    expect(await refusal("a.b.c.d")).toBe("malformed");
    expect(await refusal(`${b64([1])}.${b64(claims)}.AAAA`)).toBe("malformed");
    expect(await refusal("x".repeat(5000))).toBe("too_long");
  });

  it("checks expiry and not-before with a five-second leeway, issuer, audience and every required claim", async () => {
    const at = (extra: Record<string, unknown>) => forge(edHeader, { ...claims, ...extra });
    expect(await refusal(at({ exp: NOW / 1000 - 6 }))).toBe("expired");
    expect((await verifyAccessToken(at({ exp: NOW / 1000 - 4 }), keys, rules)).userId).toBe("user-1");
    expect(await refusal(at({ nbf: NOW / 1000 + 60 }))).toBe("not_yet_valid");
    expect(await refusal(at({ iss: "https://evil.example" }))).toBe("wrong_issuer");
    expect(await refusal(at({ aud: "someone-else" }))).toBe("wrong_audience");
    expect(await refusal(at({ aud: ["someone-else"] }))).toBe("wrong_audience");
    for (const claim of ["sub", "sid", "jti", "iat", "exp"]) {
      const { [claim]: _, ...without } = claims as Record<string, unknown>;
      expect(await refusal(forge(edHeader, without)), claim).toBe("missing_claim");
    }
    expect(await refusal(at({ sid: 42 }))).toBe("malformed");
    expect(await refusal(at({ exp: "soon" }))).toBe("malformed");
  });
});
