import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

/** A fresh, empty database on the shared primary, for tests that need a schema of their own. */
export async function createScratchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const primary = new URL(inject("stack").primaryUrl);
  const admin = new URL(primary);
  admin.username = "postgres";
  admin.password = "";
  admin.pathname = "/postgres";
  const name = `scratch_${randomBytes(6).toString("hex")}`;
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await run(`CREATE DATABASE ${name} OWNER ${primary.username}`);
  const url = new URL(primary);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      // Pools resolve end() before their last connections are gone; forcing the drop then would
      // kill a closing connection, whose error no one listens for any more. Wait for them instead.
      for (let attempt = 0; attempt < 30; attempt++) {
        try {
          return await run(`DROP DATABASE IF EXISTS ${name}`);
        } catch (error) {
          if ((error as { code?: string }).code !== "55006") throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      await run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
