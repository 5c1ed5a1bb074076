import { createClient, type Client } from "@connectrpc/connect";
import pg from "pg";
import { createRedis, keyspaceNodes, redisReady } from "../../src/platform/redis.js";
import type { RedisTarget } from "../../src/platform/redis-target.js";
import { AdminService } from "../../src/gen/auth/admin/v1/admin_pb.js";
import { createPgRoleStore } from "../../src/auth/roles/pg-role-store.js";
import { createRoleCopies } from "../../src/auth/roles/role-copies.js";
import { connectTransport, type TestAuth } from "./auth.js";

export type AdminClient = Client<typeof AdminService>;

/** The Admin API on the auth service's own port, Connect JSON, as curl or a script would call it. */
export const adminClient = (auth: TestAuth): AdminClient => createClient(AdminService, connectTransport(auth.server.url));

/**
 * Grants a role with the service's own store and Redis copy, the way the first admin is made before
 * any admin exists (the CLI does the same through the same code; admin-cli.test.ts runs it).
 */
export async function grantRoleDirectly(auth: TestAuth, email: string, role: string): Promise<string> {
  const primary = new pg.Pool({ connectionString: auth.config.databaseUrl, max: 1 });
  const redis = createRedis(auth.config.redis);
  try {
    await redisReady(redis, auth.config.redis);
    const found = await primary.query<{ id: string }>("SELECT id FROM users WHERE email = $1", [email]);
    const userId = found.rows[0]?.id;
    if (!userId) throw new Error(`no user ${email}`);
    const roles = createPgRoleStore(primary);
    const change = await roles.grant(userId, role, undefined);
    await createRoleCopies({ redis, store: roles, ttlMs: auth.config.sessionAbsoluteTtlMs }).publish(userId, change!.current);
    return userId;
  } finally {
    await primary.end();
    redis.disconnect();
  }
}

/** Every key in Redis (SCAN, never KEYS), with its value as text for the types our services write. */
export async function redisDump(target: RedisTarget): Promise<Array<{ key: string; value: string }>> {
  const client = createRedis(target);
  try {
    await redisReady(client, target);
    const out: Array<{ key: string; value: string }> = [];
    // SCAN walks one server: on a cluster, each master's share.
    for (const redis of keyspaceNodes(client)) {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "COUNT", 1000);
        cursor = next;
        for (const key of keys) {
          const type = await redis.type(key);
          const value =
            type === "string" ? await redis.get(key)
            : type === "hash" ? JSON.stringify(await redis.hgetall(key))
            : type === "zset" ? JSON.stringify(await redis.zrange(key, "0", "-1"))
            : type === "set" ? JSON.stringify(await redis.smembers(key))
            : type === "list" ? JSON.stringify(await redis.lrange(key, "0", "-1"))
            : "";
          out.push({ key, value: value ?? "" });
        }
      } while (cursor !== "0");
    }
    return out;
  } finally {
    client.disconnect();
  }
}

/** Every row of every table in the public schema whose text form contains one of `needles`, as "table: row". */
export async function rowsMentioning(databaseUrl: string, needles: string[]): Promise<string[]> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const tables = await db.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'");
    const found: string[] = [];
    for (const { table_name } of tables.rows) {
      const rows = await db.query<{ row: string }>(`SELECT t::text AS row FROM "${table_name}" t WHERE ${needles.map((_, i) => `strpos(lower(t::text), lower($${i + 1})) > 0`).join(" OR ")}`, needles);
      found.push(...rows.rows.map((r) => `${table_name}: ${r.row}`));
    }
    return found;
  } finally {
    await db.end();
  }
}
