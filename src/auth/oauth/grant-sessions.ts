import type pg from "pg";
import type { SessionStore } from "../sessions/session-store.js";

/** What a grant's session is opened from: the user's proof at the moment they consented. */
export interface GrantBasis {
  acr: "basic" | "mfa";
  emailVerified: boolean;
  /** ms since the epoch: the session's created and auth time, so a later cutoff (SignOutAll) ends it. */
  authTime: number;
  ip: string;
}

export interface GrantSessions {
  /**
   * Opens a session in the session store for the grant and records it: every access token of the
   * grant carries its id as `sid`, so the gateway ends them as it ends any session. A grant that
   * replaces an older one for the same account and client ends the older one's session.
   */
  open(grant: { grantId: string; accountId: string; clientId: string; clientName: string }, basis: GrantBasis): Promise<string>;
  /** The live session of a grant (sliding its idle expiry); undefined once it ended. */
  live(grantId: string): Promise<{ sessionId: string; acr: "basic" | "mfa"; emailVerified: boolean } | undefined>;
  /** The grant this account gave this client before (remembered consent), from the primary. */
  grantFor(accountId: string, clientId: string): Promise<string | undefined>;
  /** Ends the grant's session (revocation event to every gateway) and forgets it. */
  revoke(grantId: string): Promise<void>;
  /** Ends the sessions of every grant of the client (before the client is deleted). */
  revokeClient(clientId: string): Promise<number>;
}

/** The grant id a client_credentials client's own session is recorded under. */
export const clientGrantId = (clientId: string) => `client:${clientId}`;

export function createGrantSessions(deps: { primary: pg.Pool; sessions: SessionStore }): GrantSessions {
  const { primary, sessions } = deps;

  async function end(rows: Array<{ session_id: string; account_id: string }>): Promise<void> {
    for (const row of rows) await sessions.revoke(row.session_id, row.account_id);
  }

  return {
    async open(grant, basis) {
      const { session } = await sessions.create({
        userId: grant.accountId,
        userAgent: `oauth: ${grant.clientName}`.slice(0, 200),
        ip: basis.ip,
        secondFactor: basis.acr === "mfa",
        emailVerified: basis.emailVerified,
        fingerprint: undefined,
        provenAt: basis.authTime,
      });
      const replaced = await primary.query<{ session_id: string; account_id: string }>(
        `WITH old AS (
           DELETE FROM oauth_grant_sessions WHERE (account_id = $2 AND client_id = $3) OR grant_id = $1 RETURNING session_id, account_id
         ), ins AS (
           INSERT INTO oauth_grant_sessions (grant_id, account_id, client_id, session_id) VALUES ($1, $2, $3, $4)
         )
         SELECT session_id, account_id FROM old`,
        [grant.grantId, grant.accountId, grant.clientId, session.id],
      );
      await end(replaced.rows);
      return session.id;
    },

    async live(grantId) {
      const row = (await primary.query<{ session_id: string; account_id: string }>("SELECT session_id, account_id FROM oauth_grant_sessions WHERE grant_id = $1", [grantId])).rows[0];
      if (!row) return undefined;
      const session = await sessions.touch(row.session_id, row.account_id);
      return session ? { sessionId: session.id, acr: session.acr, emailVerified: session.emailVerified } : undefined;
    },

    async grantFor(accountId, clientId) {
      const row = (await primary.query<{ grant_id: string }>("SELECT grant_id FROM oauth_grant_sessions WHERE account_id = $1 AND client_id = $2", [accountId, clientId])).rows[0];
      return row?.grant_id;
    },

    // Redis first, the row after: a revocation Redis refused leaves the row, so a retry finds it again.
    async revoke(grantId) {
      const rows = (await primary.query<{ session_id: string; account_id: string }>("SELECT session_id, account_id FROM oauth_grant_sessions WHERE grant_id = $1", [grantId])).rows;
      await end(rows);
      await primary.query("DELETE FROM oauth_grant_sessions WHERE grant_id = $1", [grantId]);
    },

    async revokeClient(clientId) {
      const rows = (await primary.query<{ session_id: string; account_id: string }>("SELECT session_id, account_id FROM oauth_grant_sessions WHERE client_id = $1", [clientId])).rows;
      await end(rows);
      await primary.query("DELETE FROM oauth_grant_sessions WHERE client_id = $1", [clientId]);
      return rows.length;
    },
  };
}
