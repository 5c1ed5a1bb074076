import { verify as verifySignature, type KeyObject } from "node:crypto";
import { ACCESS_TOKEN_TYP, CLOCK_TOLERANCE_S, MAX_ACCESS_TOKEN_LENGTH, readAccessClaims, type AccessClaims } from "./access-token-rules.js";

/** Why a token was refused, as a stable code (after jose's `ERR_*` codes, lower-cased). */
export type TokenRefusal =
  | "too_long"
  | "malformed"
  | "alg_not_allowed"
  | "unsupported_header"
  | "wrong_type"
  | "unknown_key"
  | "signature_invalid"
  | "expired"
  | "not_yet_valid"
  | "wrong_issuer"
  | "wrong_audience"
  | "missing_claim";

export class TokenRefused extends Error {
  constructor(readonly code: TokenRefusal) {
    super(`access token refused: ${code.replaceAll("_", " ")}`);
    this.name = "TokenRefused";
  }
}

/** The public key a `kid` names for `alg`, or undefined when no such key is published. */
export type KeyLookup = (kid: string, alg: string) => KeyObject | undefined | Promise<KeyObject | undefined>;

export interface VerifyRules {
  /** The algorithms of our keys (RFC 8725 3.1): never "none", never an HMAC. */
  algorithms: readonly string[];
  issuer: string;
  /** Ours, or any of several (the gateway also takes OAuth access tokens for the resources it routes). */
  audience: string | readonly string[];
  /** ms since the epoch. */
  now: number;
}

const refuse = (code: TokenRefusal): never => {
  throw new TokenRefused(code);
};

function json(part: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch {
    return refuse("malformed");
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : refuse("malformed");
}

// Each algorithm names the one key type it may verify with, so a key of another kind (an RSA or
// EC key under an EdDSA header) can never be made to check a signature (RFC 8725 3.1, 3.2).
const KEY_TYPE: Record<string, { type: string; curve?: string; verify: (data: Buffer, key: KeyObject, signature: Buffer) => boolean }> = {
  EdDSA: { type: "ed25519", verify: (data, key, signature) => verifySignature(null, data, key, signature) },
  // RFC 7518 3.4: an ES256 signature is R || S, 64 bytes, not DER.
  ES256: {
    type: "ec",
    curve: "prime256v1",
    verify: (data, key, signature) =>
      signature.length === 64 && verifySignature("sha256", data, { key, dsaEncoding: "ieee-p1363" }, signature),
  },
};

/**
 * Verifies one of our access tokens with node:crypto and a key object the caller keeps per kid:
 * the JWS compact serialisation (RFC 7515 7.1), then the claims, as a flat run of early refusals,
 * each naming what failed. The same checks for the auth service and every authz instance
 * (accessTokenVerifyOptions states them for jose's verifier, which they replace on the hot path).
 */
export async function verifyAccessToken(token: string, keys: KeyLookup, rules: VerifyRules): Promise<AccessClaims> {
  if (token.length > MAX_ACCESS_TOKEN_LENGTH) refuse("too_long");
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((part) => part === "" || !/^[A-Za-z0-9_-]+$/.test(part))) refuse("malformed");
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  // One spelling per token (RFC 7515 2: base64url without padding; its unused low bits zero), so a
  // valid token cannot be re-spelled into others that miss caches keyed by the token's digest.
  const signature = Buffer.from(signaturePart, "base64url");
  if (signature.toString("base64url") !== signaturePart) refuse("malformed");

  const header = json(headerPart);
  const { alg, kid, typ } = header;
  if (typeof alg !== "string" || !rules.algorithms.includes(alg) || !KEY_TYPE[alg]) refuse("alg_not_allowed");
  // RFC 7515 4.1.11: an extension we do not understand must not be ignored; we understand none.
  if ("crit" in header || "b64" in header) refuse("unsupported_header");
  // RFC 9068 2.1 (RFC 7515 4.1.9 allows the "application/" prefix to be left out, and case to vary).
  if (typeof typ !== "string" || typ.toLowerCase().replace(/^application\//, "") !== ACCESS_TOKEN_TYP) refuse("wrong_type");
  if (typeof kid !== "string" || kid === "") refuse("unknown_key");
  const kind = KEY_TYPE[alg as string]!;
  const key = await keys(kid as string, alg as string);
  if (!key || key.type !== "public" || key.asymmetricKeyType !== kind.type) refuse("unknown_key");
  if (kind.curve && key!.asymmetricKeyDetails?.namedCurve !== kind.curve) refuse("unknown_key");
  const signed = Buffer.from(`${headerPart}.${payloadPart}`, "ascii");
  if (!kind.verify(signed, key!, signature)) refuse("signature_invalid");

  // RFC 7519 7.2: claims only once the signature holds.
  const payload = json(payloadPart);
  const nowS = rules.now / 1000;
  for (const claim of ["sub", "sid", "jti", "iat", "exp"]) if (!(claim in payload)) refuse("missing_claim");
  const { exp, nbf, iss, aud } = payload;
  // RFC 7519 4.1.4: not accepted on or after exp; 4.1.5: not before nbf; both with a small leeway.
  if (typeof exp !== "number" || !Number.isFinite(exp)) refuse("malformed");
  if (exp as number <= nowS - CLOCK_TOLERANCE_S) refuse("expired");
  if (nbf !== undefined && (typeof nbf !== "number" || nbf > nowS + CLOCK_TOLERANCE_S)) refuse("not_yet_valid");
  if (iss !== rules.issuer) refuse("wrong_issuer");
  // RFC 7519 4.1.3: a string or an array of strings, one of which must be ours.
  const accepted: readonly string[] = typeof rules.audience === "string" ? [rules.audience] : rules.audience;
  if (!(accepted.includes(aud as string) || (Array.isArray(aud) && aud.some((a) => accepted.includes(a))))) refuse("wrong_audience");
  return readAccessClaims(payload) ?? refuse("malformed");
}
