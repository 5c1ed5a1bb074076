/**
 * Backups and point-in-time recovery for the local stack with pgBackRest (Debian `pgbackrest`).
 *
 * The primary archives every finished WAL segment into the stack's repository
 * (<STACK_DIR>/backup/repo, stanza "auth"); `backup` takes a full, differential or incremental
 * base backup; `restore --to <time>` writes a primary data directory that replays the archive up
 * to that moment and is promoted there, so the next `up` runs the database as it was then
 * (replicas are cloned afresh from it).
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { RunAs } from "./processes.js";
import { queryOnce, waitUntil } from "./readiness.js";

const execFileAsync = promisify(execFile);

export const STANZA = "auth";
export type BackupType = "full" | "diff" | "incr";

export interface BackupLayout {
  /** <STACK_DIR>/backup: the repository, pgBackRest's config, logs, locks. */
  dir: string;
  config: string;
  repo: string;
}

export function backupLayout(stackDir: string): BackupLayout {
  const dir = path.join(stackDir, "backup");
  return { dir, config: path.join(dir, "pgbackrest.conf"), repo: path.join(dir, "repo") };
}

/**
 * pgbackrest.conf for a stack. The primary's port changes between runs (tests pick free ones),
 * so it is passed on each command line rather than written here; paths never change.
 */
export function renderPgbackrestConfig(layout: BackupLayout, primaryDataDir: string, socketDir: string): string {
  return [
    "# Written by src/stack/backup.ts.",
    "[global]",
    `repo1-path=${layout.repo}`,
    // Two full backups and the differentials and WAL they need are kept; older ones expire.
    "repo1-retention-full=2",
    `log-path=${path.join(layout.dir, "log")}`,
    `lock-path=${path.join(layout.dir, "lock")}`,
    `spool-path=${path.join(layout.dir, "spool")}`,
    "log-level-console=warn",
    "log-level-file=info",
    // zstd: about as small as gzip at a fraction of the CPU.
    "compress-type=zst",
    // Start the backup with an immediate checkpoint instead of waiting for the next one.
    "start-fast=y",
    "",
    `[${STANZA}]`,
    `pg1-path=${primaryDataDir}`,
    `pg1-socket-path=${socketDir}`,
    "pg1-user=postgres",
    "",
  ].join("\n");
}

/** The primary's archive settings, passed as -c options so a reused data dir follows a moved stack. */
export function archiveSettings(layout: BackupLayout): string[] {
  return [
    "-c", "archive_mode=on",
    "-c", `archive_command=pgbackrest --config=${layout.config} --stanza=${STANZA} archive-push %p`,
  ];
}

export function writePgbackrestConfig(layout: BackupLayout, primaryDataDir: string, socketDir: string): void {
  for (const sub of ["repo", "log", "lock", "spool"]) fs.mkdirSync(path.join(layout.dir, sub), { recursive: true });
  fs.writeFileSync(layout.config, renderPgbackrestConfig(layout, primaryDataDir, socketDir));
}

/**
 * A freshly initialised primary is a new database: the stanza in the repository (if any) is
 * another cluster's and stanza-create would refuse it. Its backups are moved aside, not deleted.
 * Returns where they went, or undefined when the repository was empty.
 */
export function setAsideRepository(layout: BackupLayout): string | undefined {
  if (!fs.existsSync(layout.repo) || fs.readdirSync(layout.repo).length === 0) return undefined;
  const aside = `${layout.repo}.before-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  fs.renameSync(layout.repo, aside);
  fs.mkdirSync(layout.repo);
  return aside;
}

export interface PgbackrestContext {
  pgbackrest: string;
  layout: BackupLayout;
  runAs: RunAs | undefined;
  /** Where the primary listens now; a restore needs no running server. */
  port?: number;
}

/** Runs one pgbackrest command as the service user (it must own the repo and read the data dir). */
export async function pgbackrest(ctx: PgbackrestContext, command: string, options: string[] = []): Promise<string> {
  const args = [`--config=${ctx.layout.config}`, `--stanza=${STANZA}`, ...(ctx.port === undefined ? [] : [`--pg1-port=${ctx.port}`]), ...options, command];
  try {
    const { stdout } = await execFileAsync(ctx.pgbackrest, args, {
      cwd: ctx.layout.dir,
      maxBuffer: 16 * 1024 * 1024,
      ...(ctx.runAs ? { uid: ctx.runAs.uid, gid: ctx.runAs.gid } : {}),
    });
    return stdout;
  } catch (error) {
    const { stderr, stdout, message } = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`pgbackrest ${command} failed: ${(stderr || stdout || message).trim()}`);
  }
}

/** Creates the stanza, or confirms it matches this cluster; safe on every start. */
export async function ensureStanza(ctx: PgbackrestContext): Promise<void> {
  await pgbackrest(ctx, "stanza-create");
}

export interface BackupInfo {
  label: string;
  type: BackupType;
  /** Bytes in the repository (compressed), and of the database it copied. */
  repoBytes: number;
  databaseBytes: number;
  stop: Date;
}

/** Takes a base backup; pgBackRest makes a differential or incremental one full if no full exists yet. */
export async function takeBackup(ctx: PgbackrestContext, type: BackupType): Promise<BackupInfo> {
  await pgbackrest(ctx, "backup", [`--type=${type}`]);
  const latest = (await listBackups(ctx)).at(-1);
  if (!latest) throw new Error("pgbackrest backup succeeded but info lists no backup");
  return latest;
}

export async function listBackups(ctx: PgbackrestContext): Promise<BackupInfo[]> {
  // `info` reads only the repository and refuses the pg1-* options.
  const [stanza] = JSON.parse(await pgbackrest({ ...ctx, port: undefined }, "info", ["--output=json"])) as Array<{
    backup: Array<{ label: string; type: BackupType; info: { size: number; repository: { delta: number } }; timestamp: { stop: number } }>;
  }>;
  return (stanza?.backup ?? []).map((b) => ({
    label: b.label,
    type: b.type,
    repoBytes: b.info.repository.delta,
    databaseBytes: b.info.size,
    stop: new Date(b.timestamp.stop * 1000),
  }));
}

/**
 * Makes sure everything written so far is in the archive: switches to a new WAL segment and
 * waits until the finished one is archived (`pgbackrest check`). A restore to "a moment ago"
 * needs this; otherwise the moment may still sit in the primary's current segment.
 */
export async function archiveNow(ctx: PgbackrestContext): Promise<void> {
  await pgbackrest(ctx, "check");
}

export interface RestoreOptions {
  /** pgBackRest's settings and repository of the stack the backup came from. */
  from: PgbackrestContext;
  /** The data directory to write; must not exist or be empty. */
  targetDataDir: string;
  /** Replay stops at the last commit at or before this time and the server is promoted. */
  to: Date;
  runAs: RunAs | undefined;
}

export async function restoreToTime(opts: RestoreOptions): Promise<void> {
  if (fs.existsSync(opts.targetDataDir) && fs.readdirSync(opts.targetDataDir).length > 0) {
    throw new Error(`${opts.targetDataDir} is not empty: restore writes a fresh data directory (stop the stack and remove it, or restore into a new STACK_DIR)`);
  }
  fs.mkdirSync(opts.targetDataDir, { recursive: true, mode: 0o700 });
  if (opts.runAs) fs.chownSync(opts.targetDataDir, opts.runAs.uid, opts.runAs.gid);
  // `restore` needs no running server and refuses the port option.
  await pgbackrest({ ...opts.from, runAs: opts.runAs, port: undefined }, "restore", [
    `--pg1-path=${opts.targetDataDir}`,
    "--type=time",
    // pgBackRest's own time format; with "+00" it is UTC whatever the machine's zone.
    `--target=${opts.to.toISOString().replace("T", " ").replace("Z", "+00")}`,
    "--target-action=promote",
    // The restored server becomes a new primary: it must not replay into a later timeline.
    "--target-timeline=current",
  ]);
}

/** A data directory pgBackRest restored starts in recovery; it is the primary only once promoted. */
export const isRestored = (dataDir: string) => fs.existsSync(path.join(dataDir, "recovery.signal"));

export async function waitForPromotion(superUrl: string, timeoutMs: number): Promise<void> {
  await waitUntil(async () => (await queryOnce<{ recovering: boolean }>(superUrl, "SELECT pg_is_in_recovery() AS recovering"))[0]?.recovering === false, {
    what: "the restored primary to reach its recovery target and be promoted",
    timeoutMs,
    intervalMs: 100,
  });
}
