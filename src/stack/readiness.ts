import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { tail } from "./processes.js";

export interface WaitOptions {
  what: string;
  timeoutMs: number;
  /** Quoted in the error so a component that never came up explains itself. */
  logFile?: string;
  /** Fails fast when the process died instead of waiting out the timeout. */
  alive?: () => boolean;
  intervalMs?: number;
}

export async function waitUntil(check: () => Promise<boolean>, opts: WaitOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError = "";
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    const dead = opts.alive !== undefined && !opts.alive();
    if (dead || Date.now() > deadline) {
      const reason = dead ? "its process exited" : `not ready after ${opts.timeoutMs} ms`;
      const logPart = opts.logFile ? `\nlast lines of ${opts.logFile}:\n${tail(opts.logFile)}` : "";
      throw new Error(`${opts.what}: ${reason}${lastError ? ` (last error: ${lastError})` : ""}${logPart}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}

export async function queryOnce<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  // An unreachable server must surface as a rejected query, not an unhandled 'error' event.
  client.on("error", () => {});
  try {
    await client.connect();
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

export const postgresAnswers = (url: string) => async () => (await queryOnce(url, "SELECT 1 AS ok"))[0]?.ok === 1;

export function redisPing(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    let data = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      data += chunk.toString();
      if (data.includes("\r\n")) done(data.startsWith("+PONG"));
    });
  });
}

/** Server name -> status ("UP", "DOWN", "no check", ...) from the HAProxy stats CSV. */
export async function haproxyServerStatus(statsPort: number, backend = "pg_replicas"): Promise<Record<string, string>> {
  const res = await fetch(`http://127.0.0.1:${statsPort}/stats;csv`, { signal: AbortSignal.timeout(1_000) });
  if (!res.ok) throw new Error(`HAProxy stats answered ${res.status}`);
  const [header, ...rows] = (await res.text()).trim().split("\n");
  const columns = (header ?? "").replace(/^# /, "").split(",");
  const px = columns.indexOf("pxname");
  const sv = columns.indexOf("svname");
  const st = columns.indexOf("status");
  const out: Record<string, string> = {};
  for (const row of rows) {
    const cells = row.split(",");
    const name = cells[sv];
    if (cells[px] === backend && name && name !== "FRONTEND" && name !== "BACKEND") out[name] = cells[st] ?? "";
  }
  return out;
}
