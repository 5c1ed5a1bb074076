/** `stack backup` and `stack restore`: the CLI side of src/stack/backup.ts. */
import fs from "node:fs";
import path from "node:path";
import { archiveNow, backupLayout, restoreToTime, takeBackup, type BackupType, type PgbackrestContext } from "./backup.js";
import { ensureInstalled } from "./install.js";
import { assertTraversable, chownTree, ensureServiceUser } from "./service-user.js";
import { readStackState } from "./stack.js";

const BACKUP_TYPES: readonly BackupType[] = ["full", "diff", "incr"];

/** The value after `--name`, or undefined; throws when the flag is given without one. */
function flag(flags: string[], name: string): string | undefined {
  const at = flags.indexOf(`--${name}`);
  if (at === -1) return undefined;
  const value = flags[at + 1];
  if (value === undefined || value.startsWith("--")) throw new Error(`--${name} needs a value`);
  return value;
}

/** pgBackRest against the stack running in `dir`; undefined when none runs there. */
function runningContext(dir: string): PgbackrestContext | undefined {
  const state = readStackState(dir);
  if (!state || state.down.includes("primary")) return undefined;
  return { pgbackrest: ensureInstalled().pgbackrest, layout: backupLayout(path.resolve(dir)), runAs: ensureServiceUser(), port: state.ports.primary };
}

export async function backupOnce(dir: string, flags: string[], log: (line: string) => void): Promise<void> {
  const type = (flag(flags, "type") ?? "diff") as BackupType;
  if (!BACKUP_TYPES.includes(type)) throw new Error(`--type must be one of ${BACKUP_TYPES.join(", ")}, got "${type}"`);
  const ctx = runningContext(dir);
  if (!ctx) throw new Error(`no stack with a running primary in ${dir}: start it with "up" first`);
  const started = Date.now();
  const info = await takeBackup(ctx, type);
  log(`${info.type} backup ${info.label} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${info.repoBytes} bytes in the repository for a ${info.databaseBytes}-byte database`);
  process.stdout.write(`${info.label}\n`);
}

export async function restoreStack(dir: string, flags: string[], log: (line: string) => void): Promise<void> {
  const to = flag(flags, "to");
  if (!to) throw new Error('restore needs --to <time>, e.g. --to "2026-12-01T21:30:00Z"');
  const target = new Date(to);
  if (Number.isNaN(target.getTime())) throw new Error(`--to: not a time: "${to}" (use ISO 8601, e.g. 2026-12-01T21:30:00Z)`);
  const targetDir = path.resolve(dir);
  const fromDir = path.resolve(flag(flags, "from") ?? dir);
  if (readStackState(targetDir)) throw new Error(`a stack is running in ${targetDir}: stop it with "down" before restoring into it`);
  if (!fs.existsSync(backupLayout(fromDir).config)) throw new Error(`${fromDir} has no backups (no ${backupLayout(fromDir).config})`);

  const runAs = ensureServiceUser();
  const source = runningContext(fromDir);
  if (source) {
    // The target moment may still sit in the source primary's current WAL segment.
    log(`archiving the current WAL of the stack running in ${fromDir}`);
    await archiveNow(source);
  }
  const from: PgbackrestContext = source ?? { pgbackrest: ensureInstalled().pgbackrest, layout: backupLayout(fromDir), runAs };

  const primary = path.join(targetDir, "primary");
  if (fs.existsSync(primary)) {
    // Never delete a database on the operator's behalf: the one being replaced is kept beside it.
    const aside = `${primary}.before-restore-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    fs.renameSync(primary, aside);
    log(`moved the current primary data directory to ${aside}`);
  }
  fs.mkdirSync(targetDir, { recursive: true });
  if (runAs) {
    assertTraversable(targetDir);
    chownTree(targetDir, runAs);
  }
  const started = Date.now();
  await restoreToTime({ from, targetDataDir: primary, to: target, runAs });
  log(`restored to ${target.toISOString()} in ${((Date.now() - started) / 1000).toFixed(1)} s; "up" replays the archive to that moment, promotes it and clones the replicas afresh`);
}
