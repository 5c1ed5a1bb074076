import type { Clock } from "../../platform/clock.js";
import { open, seal } from "../../platform/aead.js";
import type { MfaStore } from "./mfa-store.js";
import { hashRecoveryCode, isRecoveryCode } from "./recovery-codes.js";
import type { Totp } from "./totp.js";

export type FactorUsed = "totp" | "recovery_code";

/** Checks second-factor codes; every accepted code is spent, so none works twice. */
export interface SecondFactor {
  /** True when the user has confirmed TOTP: sign-in then needs a code. */
  required(userId: string): Promise<boolean>;
  /** Spends a TOTP code or a recovery code; undefined if it is wrong or already used. */
  verify(userId: string, code: string): Promise<FactorUsed | undefined>;
  sealSecret(userId: string, secret: string): Buffer;
  openSecret(userId: string, sealed: Buffer): string;
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
  const openSecret = (userId: string, sealed: Buffer) => open(key, aad(userId), sealed).toString("utf8");
  return {
    async required(userId) {
      return (await store.factor(userId))?.confirmed === true;
    },
    async verify(userId, input) {
      const code = input.replace(/\s/g, "");
      if (TOTP_CODE.test(code)) {
        const factor = await store.factor(userId);
        if (!factor?.confirmed) return undefined;
        const counter = totp.match(openSecret(userId, factor.secretEnc), code, clock.now());
        return counter !== undefined && (await store.useCounter(userId, counter)) ? "totp" : undefined;
      }
      if (isRecoveryCode(code)) return (await store.useRecoveryCode(userId, hashRecoveryCode(code))) ? "recovery_code" : undefined;
      return undefined;
    },
    sealSecret: (userId, secret) => seal(key, aad(userId), Buffer.from(secret, "utf8")),
    openSecret,
  };
}
