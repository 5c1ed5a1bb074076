import type pg from "pg";
import type { PasskeyStore, StoredPasskey } from "./passkey-store.js";

interface Row {
  id: string;
  user_id: string;
  credential_id: string;
  public_key: Buffer;
  sign_count: string;
  transports: string[];
  device_type: string;
  backed_up: boolean;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
}

const COLUMNS = "id, user_id, credential_id, public_key, sign_count, transports, device_type, backed_up, name, created_at, last_used_at";

const fromRow = (row: Row): StoredPasskey => ({
  id: row.id,
  userId: row.user_id,
  credentialId: row.credential_id,
  publicKey: new Uint8Array(row.public_key),
  signCount: Number(row.sign_count),
  transports: row.transports,
  deviceType: row.device_type,
  backedUp: row.backed_up,
  name: row.name,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at ?? undefined,
});

export function createPgPasskeyStore(primary: pg.Pool): PasskeyStore {
  return {
    async add(p) {
      const result = await primary.query<Row>(
        `INSERT INTO passkeys (user_id, credential_id, public_key, sign_count, transports, device_type, backed_up, name)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (credential_id) DO NOTHING RETURNING ${COLUMNS}`,
        [p.userId, p.credentialId, Buffer.from(p.publicKey), p.signCount, p.transports, p.deviceType, p.backedUp, p.name],
      );
      return result.rows[0] ? fromRow(result.rows[0]) : undefined;
    },
    async byCredentialId(credentialId) {
      const result = await primary.query<Row>(`SELECT ${COLUMNS} FROM passkeys WHERE credential_id = $1`, [credentialId]);
      return result.rows[0] ? fromRow(result.rows[0]) : undefined;
    },
    async listForUser(userId) {
      const result = await primary.query<Row>(`SELECT ${COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at`, [userId]);
      return result.rows.map(fromRow);
    },
    async remove(userId, id) {
      return (await primary.query("DELETE FROM passkeys WHERE user_id = $1 AND id = $2", [userId, id])).rowCount === 1;
    },
    async recordUse(id, previousCount, newCount, backup) {
      const result = await primary.query(
        `UPDATE passkeys SET sign_count = $3, device_type = $4, backed_up = $5, last_used_at = now()
         WHERE id = $1 AND sign_count = $2 AND ($3 > $2 OR ($3 = 0 AND $2 = 0))`,
        [id, previousCount, newCount, backup.deviceType, backup.backedUp],
      );
      return result.rowCount === 1;
    },
  };
}
