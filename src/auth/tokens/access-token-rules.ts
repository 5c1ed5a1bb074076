import type { JWTVerifyOptions } from "jose";

// RFC 9068 2.1: access tokens carry typ "at+jwt", so an ID token or other JWT cannot stand in for one.
export const ACCESS_TOKEN_TYP = "at+jwt";
export const CLOCK_TOLERANCE_S = 5;

/**
 * The checks every verifier of our access tokens applies (the auth service and
 * each authz instance), so the two can never disagree about what is valid.
 */
export function accessTokenVerifyOptions(rules: { algorithms: string[]; issuer: string; audience: string; now: number }): JWTVerifyOptions {
  return {
    // RFC 8725 3.1: only the algorithms we sign with; never "none", never HMAC with a public key.
    algorithms: rules.algorithms,
    issuer: rules.issuer,
    audience: rules.audience,
    typ: ACCESS_TOKEN_TYP,
    requiredClaims: ["sub", "sid", "jti", "iat", "exp"],
    clockTolerance: CLOCK_TOLERANCE_S,
    currentDate: new Date(rules.now),
  };
}
