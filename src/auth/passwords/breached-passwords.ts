import { createHash } from "node:crypto";
import type { Logger } from "../../platform/log.js";
import { normalizePassword } from "./normalize-password.js";

/** A corpus of passwords seen in data breaches (NIST SP 800-63B 5.1.1.2). */
export interface BreachedPasswords {
  seen(password: string): Promise<boolean>;
}

export interface RangeLookupDeps {
  /** PASSWORD_BREACH_CHECK_URL, e.g. https://api.pwnedpasswords.com: GET <url>/range/<5 hex> answers SUFFIX:COUNT lines. */
  baseUrl: string;
  timeoutMs: number;
  log: Logger;
  fetch?: typeof fetch;
}

/**
 * The Pwned Passwords range API (k-anonymity): only the first 5 hex digits of the SHA-1 of the
 * normalised password leave the process, and the answer is every suffix under that prefix (padded
 * with zero-count decoys, `Add-Padding`). If the service cannot answer in time the password is not
 * refused: sign-up must not depend on a third party, and the offline list still applies.
 */
export function createRangeLookup(deps: RangeLookupDeps): BreachedPasswords {
  const get = deps.fetch ?? fetch;
  const base = deps.baseUrl.replace(/\/+$/, "");
  return {
    async seen(password) {
      const sha1 = createHash("sha1").update(normalizePassword(password)).digest("hex").toUpperCase();
      const prefix = sha1.slice(0, 5);
      const suffix = sha1.slice(5);
      try {
        const res = await get(`${base}/range/${prefix}`, { headers: { "add-padding": "true" }, signal: AbortSignal.timeout(deps.timeoutMs) });
        if (!res.ok) throw new Error(`range lookup answered ${res.status}`);
        for (const line of (await res.text()).split("\n")) {
          const [candidate = "", count = "0"] = line.trim().split(":");
          if (candidate.toUpperCase() === suffix && Number(count) > 0) return true;
        }
        return false;
      } catch (error) {
        deps.log.warn({ err: error }, "breached-password lookup failed; password not refused on it");
        return false;
      }
    },
  };
}
