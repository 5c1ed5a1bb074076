import type { Clock } from "../../platform/clock.js";
import { open, seal } from "../../platform/aead.js";
import type { MfaStore, TotpFactor } from "./mfa-store.js";
import { hashRecoveryCode, isRecoveryCode } from "./recovery-codes.js";
import type { Totp } from "./totp.js";

export type FactorUsed = "totp" | "recovery_code";

/** Checks second-factor codes; every accepted code is spent, so none works twice. */
export interface SecondFactor {
  /** True when the user has confirmed TOTP: sign-in then needs a code. */
  required(userId: string): Promise<boolean>;
  /**
   * Spends a TOTP code or a recovery code; undefined if it is wrong or already used.
   * `factor` is the user's factor when the caller has just read it, saving a second read.
   */
  verify(userId: string, code: string, factor?: TotpFactor): Promise<FactorUsed | undefined>;
  /** The time step a TOTP code proves for this factor's secret, confirmed or not, without spending it. */
  match(userId: string, factor: TotpFactor, code: string): number | undefined;
  sealSecret(userId: string, secret: string): Buffer;
}

export interface SecondFactorDeps {
  store: MfaStore;
  totp: Totp;
  /** MFA_ENCRYPTION_KEY. */
  key: Buffer;
  clock: Clock;
}

const TOTP_CODE = /^\d{6}$/;
const aad = (userId: string) => `totp:${userId}`;

export function createSecondFactor(deps: SecondFactorDeps): SecondFactor {
  const { store, totp, key, clock } = deps;
  // Authenticator apps show codes grouped ("123 456"); people type them that way.
  const normalize = (code: string) => code.replace(/\s/g, "");
  const match = (userId: string, factor: TotpFactor, code: string) =>
    totp.match(open(key, aad(userId), factor.secretEnc).toString("utf8"), normalize(code), clock.now());
  return {
    async required(userId) {
      return (await store.factor(userId))?.confirmed === true;
    },
    async verify(userId, input, preloaded) {
      const code = normalize(input);
      if (TOTP_CODE.test(code)) {
        const factor = preloaded ?? (await store.factor(userId));
        if (!factor?.confirmed) return undefined;
        const counter = match(userId, factor, code);
        return counter !== undefined && (await store.useCounter(userId, counter)) ? "totp" : undefined;
      }
      if (isRecoveryCode(code)) return (await store.useRecoveryCode(userId, hashRecoveryCode(code))) ? "recovery_code" : undefined;
      return undefined;
    },
    match,
    sealSecret: (userId, secret) => seal(key, aad(userId), Buffer.from(secret, "utf8")),
  };
}
