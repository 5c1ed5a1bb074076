import { createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import type { Clock } from "../platform/clock.js";

/** The key set could not be fetched or read: a fault of ours, not of the token. */
export class JwksUnavailable extends Error {
  constructor(cause: unknown) {
    super("the auth service's key set is unavailable", { cause });
    this.name = "JwksUnavailable";
  }
}

export interface JwksKeysDeps {
  url: string;
  clock: Clock;
  /** A fetch on start and on an unknown kid must not eat the gateway's whole Check timeout. */
  timeoutMs: number;
  /** A flood of tokens with made-up kids refetches at most this often. */
  cooldownMs: number;
  /**
   * Keys are refetched this long after the last fetch, so retired or withdrawn ones leave; a set
   * older than this that cannot be refetched is not trusted (JwksUnavailable, as jose's remote sets).
   */
  maxAgeMs: number;
  /** Told when a fetch changes which keys are published, so what they verified is checked again. */
  onKeysChanged?: () => void;
}

type Loaded = Map<string, { alg: string; key: KeyObject }>;

/**
 * The auth service's published keys as node:crypto key objects, by kid: one import per key, not one
 * per Check. Fetched on first use, again on an unknown kid (at most once per cooldown: the key
 * may have rotated in) and when older than maxAge.
 */
export function createJwksKeys(deps: JwksKeysDeps) {
  let keys: Loaded | undefined;
  let fetchedAt = 0;
  let attemptedAt = Number.NEGATIVE_INFINITY;
  let lastFailure: unknown;
  let inFlight: Promise<void> | undefined;

  async function load(): Promise<void> {
    attemptedAt = deps.clock.now();
    let body: { keys?: unknown };
    try {
      const res = await fetch(deps.url, { signal: AbortSignal.timeout(deps.timeoutMs), headers: { accept: "application/json" } });
      if (!res.ok) throw new Error(`JWKS answered ${res.status}`);
      body = (await res.json()) as { keys?: unknown };
      if (!Array.isArray(body.keys)) throw new Error("JWKS has no keys array");
    } catch (error) {
      lastFailure = error;
      return;
    }
    const loaded: Loaded = new Map();
    for (const jwk of body.keys as Array<JsonWebKey & { kid?: unknown; alg?: unknown; use?: unknown }>) {
      if (typeof jwk.kid !== "string" || typeof jwk.alg !== "string" || (jwk.use !== undefined && jwk.use !== "sig")) continue;
      try {
        loaded.set(jwk.kid, { alg: jwk.alg, key: createPublicKey({ key: jwk, format: "jwk" }) });
      } catch {
        // A key we cannot import verifies nothing; the others still do.
      }
    }
    const changed = keys !== undefined && (keys.size !== loaded.size || [...loaded.keys()].some((kid) => !keys!.has(kid)));
    keys = loaded;
    fetchedAt = attemptedAt;
    if (changed) deps.onKeysChanged?.();
  }

  const refetch = () => (inFlight ??= load().finally(() => (inFlight = undefined)));

  return {
    /** Fetches the key set now (at start, so the first Check does not wait for it); rejects if that failed. */
    async reload(): Promise<void> {
      await refetch();
      if (attemptedAt !== fetchedAt) throw new JwksUnavailable(lastFailure);
    },
    /**
     * The key for kid and alg; undefined when the set has none such even after a refetch. Fails
     * closed: with no set, or one past maxAge that could not be refetched (a key withdrawn from the
     * auth service must stop verifying here too), it throws JwksUnavailable.
     */
    async keyFor(kid: string, alg: string): Promise<KeyObject | undefined> {
      const stale = () => !keys || deps.clock.now() - fetchedAt >= deps.maxAgeMs;
      const wanted = stale() || !keys!.has(kid);
      if (wanted && deps.clock.now() - attemptedAt >= deps.cooldownMs) await refetch();
      if (!keys || stale()) throw new JwksUnavailable(lastFailure);
      const found = keys.get(kid);
      return found && found.alg === alg ? found.key : undefined;
    },
  };
}

export type JwksKeys = ReturnType<typeof createJwksKeys>;
