import type pg from "pg";
import { errors, type Adapter, type AdapterPayload } from "oidc-provider";
import type { ClientRegistry } from "./client-registry.js";

export interface OAuthAdapterDeps {
  /** Every read and write on the primary: a replica might still show a consumed code as fresh. */
  primary: pg.Pool;
  clients: ClientRegistry;
  /** A grant ended (revoked, reused code or refresh token, expired): its session must end at the gateway. */
  onGrantEnded(grantId: string): Promise<void>;
}

interface ArtifactRow {
  payload: AdapterPayload;
  expires_at: Date | null;
}

const SELECT = "SELECT payload, expires_at FROM oauth_artifacts WHERE model = $1";
const nowS = () => Math.floor(Date.now() / 1000);
const fresh = (row: ArtifactRow | undefined) => (row && (row.expires_at === null || row.expires_at.getTime() > Date.now()) ? row.payload : undefined);

/**
 * oidc-provider's persistence (its Adapter interface), one table for every model on the primary.
 * Clients come from the operator's registry, never from this table.
 */
export function createOAuthAdapterFactory(deps: OAuthAdapterDeps): (model: string) => Adapter {
  const { primary } = deps;

  async function endGrant(grantId: string): Promise<void> {
    await primary.query("DELETE FROM oauth_artifacts WHERE grant_id = $1 OR (model = 'Grant' AND id = $1)", [grantId]);
    await deps.onGrantEnded(grantId);
  }

  function artifacts(model: string): Adapter {
    return {
      async upsert(id, payload, expiresIn) {
        const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
        await primary.query(
          `INSERT INTO oauth_artifacts (model, id, payload, grant_id, uid, user_code, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, uid = EXCLUDED.uid,
             user_code = EXCLUDED.user_code, expires_at = EXCLUDED.expires_at`,
          [model, id, JSON.stringify(payload), payload.grantId ?? null, payload.uid ?? null, payload.userCode ?? null, expiresAt],
        );
      },
      async find(id) {
        return fresh((await primary.query<ArtifactRow>(`${SELECT} AND id = $2`, [model, id])).rows[0]);
      },
      async findByUid(uid) {
        return fresh((await primary.query<ArtifactRow>(`${SELECT} AND uid = $2`, [model, uid])).rows[0]);
      },
      async findByUserCode(userCode) {
        return fresh((await primary.query<ArtifactRow>(`${SELECT} AND user_code = $2`, [model, userCode])).rows[0]);
      },
      /**
       * Single use, atomically: of two requests redeeming one code or refresh token, one marks it and
       * the other finds it marked. The loser is a replay (RFC 6749 4.1.2, RFC 9700 4.14.2): the grant
       * and every token it issued end.
       */
      async consume(id) {
        const won = await primary.query<{ grant_id: string | null }>(
          `UPDATE oauth_artifacts SET consumed_at = now(), payload = payload || jsonb_build_object('consumed', $3::bigint)
           WHERE model = $1 AND id = $2 AND consumed_at IS NULL RETURNING grant_id`,
          [model, id, nowS()],
        );
        if (won.rowCount === 1) return;
        const grantId = (await primary.query<{ grant_id: string | null }>("SELECT grant_id FROM oauth_artifacts WHERE model = $1 AND id = $2", [model, id])).rows[0]?.grant_id;
        if (grantId) await endGrant(grantId);
        throw new errors.InvalidGrant(`${model === "AuthorizationCode" ? "authorization code" : "refresh token"} already consumed`);
      },
      async destroy(id) {
        if (model === "Grant") return endGrant(id);
        await primary.query("DELETE FROM oauth_artifacts WHERE model = $1 AND id = $2", [model, id]);
      },
      async revokeByGrantId(grantId) {
        await primary.query("DELETE FROM oauth_artifacts WHERE model = $1 AND grant_id = $2", [model, grantId]);
      },
    };
  }

  const clientAdapter: Adapter = {
    async find(id) {
      return (await deps.clients.find(id)) as AdapterPayload | undefined;
    },
    async upsert() {
      throw new Error("clients are registered by the operator only");
    },
    async findByUid() {
      return undefined;
    },
    async findByUserCode() {
      return undefined;
    },
    async consume() {},
    async destroy() {},
    async revokeByGrantId() {},
  };

  return (model) => (model === "Client" ? clientAdapter : artifacts(model));
}

/** Drops artifacts past their expiry; oidc-provider ignores them already, this only keeps the table small. */
export async function sweepExpiredArtifacts(primary: pg.Pool): Promise<number> {
  const result = await primary.query("DELETE FROM oauth_artifacts WHERE expires_at < now() - interval '1 hour'");
  return result.rowCount ?? 0;
}

/** The interactions' sign-in-afresh marks (interactions.ts), beside the interactions themselves. */
export function createPgReauthMarks(primary: pg.Pool) {
  return {
    async mark(uid: string, atMs: number, expiresAtS: number) {
      await primary.query(
        "INSERT INTO oauth_artifacts (model, id, payload, expires_at) VALUES ('ReauthMark', $1, $2, to_timestamp($3)) ON CONFLICT (model, id) DO NOTHING",
        [uid, JSON.stringify({ atMs }), expiresAtS],
      );
    },
    async since(uid: string) {
      const row = (await primary.query<ArtifactRow>(`${SELECT} AND id = $2`, ["ReauthMark", uid])).rows[0];
      const atMs = (fresh(row) as { atMs?: unknown } | undefined)?.atMs;
      return typeof atMs === "number" ? atMs : undefined;
    },
  };
}
