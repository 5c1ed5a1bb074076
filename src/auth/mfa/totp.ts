import { Secret, TOTP } from "otpauth";

export interface TotpDeps {
  issuer: string;
  /** RFC 6238 defaults: 6 digits over 30-second steps with HMAC-SHA1, what every authenticator app speaks. */
  digits?: number;
}

const PERIOD_S = 30;
// RFC 6238 5.2: accept at most one step either side for clock drift and typing time.
const WINDOW = 1;

export function createTotp(deps: TotpDeps) {
  const digits = deps.digits ?? 6;
  const totp = (secret: Secret, label = "") =>
    new TOTP({ issuer: deps.issuer, label, secret, algorithm: "SHA1", digits, period: PERIOD_S });
  return {
    /** 160 bits, the HMAC-SHA1 key length RFC 4226 4 recommends; base32 for manual entry. */
    newSecret: (): string => new Secret({ size: 20 }).base32,
    uri: (secret: string, email: string): string => totp(Secret.fromBase32(secret), email).toString(),
    code: (secret: Secret, timestampMs: number): string => totp(secret).generate({ timestamp: timestampMs }),
    /** The time step the code belongs to, within the window around `nowMs`; undefined if it matches none. */
    match(secret: string, code: string, nowMs: number): number | undefined {
      const delta = totp(Secret.fromBase32(secret)).validate({ token: code, timestamp: nowMs, window: WINDOW });
      return delta === null ? undefined : Math.floor(nowMs / 1000 / PERIOD_S) + delta;
    },
  };
}

export type Totp = ReturnType<typeof createTotp>;
