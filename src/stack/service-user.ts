import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { RunAs } from "./processes.js";

const SERVICE_USER = "authstack";

/**
 * Postgres and PgBouncer refuse to run as root. As root we run every component as an
 * unprivileged system user (created once); otherwise as ourselves (undefined: no switch).
 */
export function ensureServiceUser(name = SERVICE_USER): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  let ids = lookup(name);
  if (!ids) {
    const created = spawnSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], { encoding: "utf8" });
    // Another process may have created it concurrently (exit 9: user exists).
    if (created.status !== 0 && created.status !== 9) throw new Error(`useradd ${name} failed: ${created.stderr.trim()}`);
    ids = lookup(name);
    if (!ids) throw new Error(`user ${name} not found after useradd`);
  }
  return ids;
}

function lookup(name: string): RunAs | undefined {
  const line = fs
    .readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** Hands the state tree to the service user; its ancestors only need to be traversable. */
export function chownTree(dir: string, runAs: RunAs | undefined): void {
  if (!runAs) return;
  const walk = (p: string) => {
    fs.lchownSync(p, runAs.uid, runAs.gid);
    if (fs.lstatSync(p).isDirectory()) for (const entry of fs.readdirSync(p)) walk(path.join(p, entry));
  };
  walk(dir);
}

/** The service user must reach the state dir through every ancestor (e.g. not under /root). */
export function assertTraversable(dir: string): void {
  for (let p = path.dirname(dir); ; p = path.dirname(p)) {
    if ((fs.statSync(p).mode & 0o001) === 0) {
      throw new Error(`${dir} is not reachable by the unprivileged user ${SERVICE_USER}: ${p} is not world-searchable (chmod o+x it or set STACK_DIR elsewhere)`);
    }
    if (p === path.dirname(p)) return;
  }
}
