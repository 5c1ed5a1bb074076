import { createPrivateKey, createPublicKey, randomUUID, type JsonWebKey, type KeyObject } from "node:crypto";
import { exportJWK, exportPKCS8, generateKeyPair, importPKCS8, type CryptoKey, type JWK } from "jose";
import type { Clock } from "../../platform/clock.js";
import type { Logger } from "../../platform/log.js";
import { decryptPrivateKey, encryptPrivateKey } from "./key-crypto.js";
import type { SigningKeyStore, StoredSigningKey } from "./signing-key-store.js";

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
}

export interface KeyRing {
  /** The key that signs now. */
  current(): SigningKey;
  /** A key that may verify, by kid, as a node:crypto key; reloads once from the store on a miss (another instance may have rotated). */
  verificationKey(kid: string, alg: string): Promise<KeyObject | undefined>;
  /** Every key a verifier may need: the signing one, the next (published ahead), and retired ones whose tokens live on. */
  jwks(): { keys: JWK[] };
  algorithms(): string[];
  /** The private JWKs of the published keys, the one signing now first: the OpenID Provider signs with the same keys and kids. */
  privateJwks(): JWK[];
  /** Rotates if due, then reloads. Runs on a timer; exposed for start-up and tests. */
  refresh(): Promise<void>;
  close(): void;
}

export interface KeyRingDeps {
  store: SigningKeyStore;
  encryptionKey: Buffer;
  alg: "EdDSA" | "ES256";
  rotationMs: number;
  /** Retired keys stay published this long, so tokens they signed still verify. */
  accessTokenTtlMs: number;
  clock: Clock;
  log: Logger;
}

interface LoadedKey {
  stored: StoredSigningKey;
  /** node:crypto's own key: verifying with it skips WebCrypto's per-call overhead. */
  publicKey: KeyObject;
  privateKey: CryptoKey;
  privateJwk: JWK;
}

const MISS_RELOAD_INTERVAL_MS = 5_000;

export async function createKeyRing(deps: KeyRingDeps): Promise<KeyRing> {
  // The next key is published this long before it signs, so every verifier has it by then.
  const prepublishMs = Math.min(deps.rotationMs / 2, 3_600_000);
  const reloadEveryMs = Math.max(1_000, Math.min(60_000, prepublishMs / 4));
  const graceMs = deps.accessTokenTtlMs + 60_000;
  let keys: LoadedKey[] = [];
  let lastMissReload = 0;

  async function mint(activatesAt: Date): Promise<StoredSigningKey> {
    const kid = randomUUID();
    const pair = await generateKeyPair(deps.alg, { extractable: true });
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid, alg: deps.alg, use: "sig" };
    const pem = await exportPKCS8(pair.privateKey);
    return {
      kid,
      alg: deps.alg,
      publicJwk,
      privateKeyEnc: encryptPrivateKey(deps.encryptionKey, kid, pem),
      activatesAt,
      retiresAt: new Date(activatesAt.getTime() + deps.rotationMs),
    };
  }

  async function rotateIfDue(): Promise<void> {
    const now = new Date(deps.clock.now());
    await deps.store.withRotationLock(async (insert, live) => {
      const tail = live.at(-1);
      if (!tail) {
        await insert(await mint(now));
        deps.log.info("signing key created");
        return;
      }
      if (tail.retiresAt.getTime() - now.getTime() <= prepublishMs) {
        const next = await mint(tail.retiresAt > now ? tail.retiresAt : now);
        await insert(next);
        deps.log.info({ kid: next.kid, activatesAt: next.activatesAt }, "signing key rotated in");
      }
    }, now);
  }

  async function load(): Promise<void> {
    const stored = await deps.store.listLive(new Date(deps.clock.now()), graceMs);
    keys = await Promise.all(
      stored.map(async (key) => {
        const pem = decryptPrivateKey(deps.encryptionKey, key.kid, key.privateKeyEnc);
        return {
          stored: key,
          publicKey: createPublicKey({ key: key.publicJwk as JsonWebKey, format: "jwk" }),
          privateKey: await importPKCS8(pem, key.alg),
          privateJwk: { ...(createPrivateKey(pem).export({ format: "jwk" }) as JWK), kid: key.kid, alg: key.alg, use: "sig" },
        };
      }),
    );
  }

  async function refresh(): Promise<void> {
    await rotateIfDue();
    await load();
  }

  await refresh();
  const timer = setInterval(() => {
    refresh().catch((error: unknown) => deps.log.warn({ err: error }, "signing key refresh failed; keeping loaded keys"));
  }, reloadEveryMs);
  timer.unref();

  function signingNow(): LoadedKey {
    const now = deps.clock.now();
    const active = keys.filter((k) => k.stored.activatesAt.getTime() <= now);
    const key = active.at(-1) ?? keys[0];
    if (!key) throw new Error("no signing key loaded");
    return key;
  }

  return {
    current() {
      const key = signingNow();
      return { kid: key.stored.kid, alg: key.stored.alg, privateKey: key.privateKey };
    },
    async verificationKey(kid, alg) {
      const find = () => keys.find((k) => k.stored.kid === kid && k.stored.alg === alg)?.publicKey;
      const found = find();
      if (found || deps.clock.now() - lastMissReload < MISS_RELOAD_INTERVAL_MS) return found;
      lastMissReload = deps.clock.now();
      await load();
      return find();
    },
    jwks() {
      return { keys: keys.map((k) => k.stored.publicJwk) };
    },
    privateJwks() {
      const signing = signingNow();
      return [signing, ...keys.filter((k) => k !== signing)].map((k) => k.privateJwk);
    },
    algorithms() {
      return [...new Set([deps.alg, ...keys.map((k) => k.stored.alg)])];
    },
    refresh,
    close() {
      clearInterval(timer);
    },
  };
}
