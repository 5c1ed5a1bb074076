import type pg from "pg";
import type { JWK } from "jose";

export interface StoredSigningKey {
  kid: string;
  alg: string;
  publicJwk: JWK;
  privateKeyEnc: Buffer;
  activatesAt: Date;
  retiresAt: Date;
}

export interface SigningKeyStore {
  /** Keys that still sign or may have signed a token that has not expired yet. */
  listLive(now: Date, graceMs: number): Promise<StoredSigningKey[]>;
  /**
   * Runs `fn` holding a lock shared by every instance, so two instances
   * starting together do not both mint a key.
   */
  withRotationLock<T>(fn: (insert: (key: StoredSigningKey) => Promise<void>, live: StoredSigningKey[]) => Promise<T>, now: Date): Promise<T>;
}

interface KeyRow {
  kid: string;
  alg: string;
  public_jwk: JWK;
  private_key_enc: Buffer;
  activates_at: Date;
  retires_at: Date;
}

const toKey = (row: KeyRow): StoredSigningKey => ({
  kid: row.kid,
  alg: row.alg,
  publicJwk: row.public_jwk,
  privateKeyEnc: row.private_key_enc,
  activatesAt: row.activates_at,
  retiresAt: row.retires_at,
});

const LIVE = "SELECT kid, alg, public_jwk, private_key_enc, activates_at, retires_at FROM signing_keys WHERE retires_at > $1 ORDER BY activates_at";
// Arbitrary constant naming the key-rotation lock among this database's advisory locks.
const ROTATION_LOCK = 7_300_001;

/** Reads from the primary: a replica might not have the key that just started signing. */
export function createPgSigningKeyStore(primary: pg.Pool): SigningKeyStore {
  return {
    async listLive(now, graceMs) {
      const result = await primary.query<KeyRow>(LIVE, [new Date(now.getTime() - graceMs)]);
      return result.rows.map(toKey);
    },
    async withRotationLock(fn, now) {
      const client = await primary.connect();
      try {
        await client.query("BEGIN");
        // Transaction-scoped, so it is safe behind PgBouncer's transaction pooling.
        await client.query("SELECT pg_advisory_xact_lock($1)", [ROTATION_LOCK]);
        const live = (await client.query<KeyRow>(LIVE, [now])).rows.map(toKey);
        const result = await fn(async (key) => {
          await client.query(
            "INSERT INTO signing_keys (kid, alg, public_jwk, private_key_enc, activates_at, retires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            [key.kid, key.alg, JSON.stringify(key.publicJwk), key.privateKeyEnc, key.activatesAt, key.retiresAt],
          );
        }, live);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
  };
}
