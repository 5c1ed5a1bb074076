import fs from "node:fs";
import path from "node:path";
import type { ProcessManager, RunAs, ServiceSpec } from "./processes.js";
import { queryOnce, waitUntil } from "./readiness.js";

export const APP_USER = "auth";
export const APP_PASSWORD = "auth";
const APP_DATABASE = "auth";
const SUPERUSER = "postgres";
const REPLICATION_USER = "replicator";

export interface PostgresContext {
  bin: string;
  dir: string;
  socketDir: string;
  logDir: string;
  runAs: RunAs | undefined;
  procs: ProcessManager;
}

export const pgUrl = (port: number, user = APP_USER, database = APP_DATABASE) =>
  `postgres://${user}:${APP_PASSWORD}@127.0.0.1:${port}/${database}`;
export const superUrl = (port: number) => `postgres://${SUPERUSER}@127.0.0.1:${port}/postgres`;
const slotName = (index: number) => `replica_${index}`;
export const replicaName = (index: number) => `replica-${index}`;

/** Settings written once into postgresql.conf; they travel to replicas with pg_basebackup. */
const CLUSTER_SETTINGS = `
# --- added by src/stack/postgres.ts ---
listen_addresses = '127.0.0.1'
max_connections = 200
shared_buffers = 64MB
wal_level = replica
max_wal_senders = 16
max_replication_slots = 16
hot_standby = on
hot_standby_feedback = on
wal_receiver_status_interval = 1s
# --- bounds (issue 11), kept together; docker/postgres/init-primary.sh has the same block ---
# A dead replica's slot keeps at most this much WAL; past it the slot is invalidated (the replica
# is cloned again) rather than the primary's disk filling up.
max_slot_wal_keep_size = 1GB
# Server-side, since PgBouncer drops a client's statement_timeout (ignore_startup_parameters):
# backstops behind the service's own 5 s query timeout, so no statement, and no transaction left
# open by a vanished client, holds locks and a pooled connection for long. Migrations lift the first.
statement_timeout = 30s
idle_in_transaction_session_timeout = 60s
# A peer that vanished without a FIN is noticed within about 2 min, not the kernel's 2 h.
tcp_keepalives_idle = 60
tcp_keepalives_interval = 10
tcp_keepalives_count = 6
# Durability stays at the defaults on the primary (fsync, synchronous_commit, full_page_writes):
# an acknowledged commit must survive a primary kill.
`;

const HBA = `# Written by src/stack/postgres.ts: the local stack trusts loopback only.
local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
`;

/** initdb + config. Returns false when the data dir already existed (reused as is). */
export async function initPrimary(ctx: PostgresContext, dataDir: string): Promise<boolean> {
  if (fs.existsSync(path.join(dataDir, "PG_VERSION"))) return false;
  fs.rmSync(dataDir, { recursive: true, force: true });
  await ctx.procs.run({
    command: path.join(ctx.bin, "initdb"),
    // --no-sync only skips flushing initdb's own files: a crash during setup just means re-init.
    args: ["-D", dataDir, "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
    cwd: ctx.dir,
    logFile: path.join(ctx.logDir, "initdb.log"),
    runAs: ctx.runAs,
  });
  fs.appendFileSync(path.join(dataDir, "postgresql.conf"), CLUSTER_SETTINGS);
  fs.writeFileSync(path.join(dataDir, "pg_hba.conf"), HBA);
  return true;
}

/** Port and socket are passed on the command line so a reused data dir follows new ports. */
export function primarySpec(ctx: PostgresContext, dataDir: string, port: number): ServiceSpec {
  return {
    name: "primary",
    command: path.join(ctx.bin, "postgres"),
    args: ["-D", dataDir, "-c", `port=${port}`, "-c", `unix_socket_directories=${ctx.socketDir}`],
    cwd: ctx.dir,
    logFile: path.join(ctx.logDir, "primary.log"),
    runAs: ctx.runAs,
    stopSignal: "SIGINT",
  };
}

export function replicaSpec(ctx: PostgresContext, dataDir: string, index: number, port: number, primaryPort: number): ServiceSpec {
  const name = replicaName(index);
  return {
    name,
    command: path.join(ctx.bin, "postgres"),
    args: [
      "-D", dataDir,
      "-c", `port=${port}`,
      "-c", `unix_socket_directories=${ctx.socketDir}`,
      "-c", `primary_conninfo=host=127.0.0.1 port=${primaryPort} user=${REPLICATION_USER} application_name=${name}`,
      "-c", `primary_slot_name=${slotName(index)}`,
      // A replica is rebuilt from the primary at will; skipping fsync speeds replay.
      "-c", "fsync=off",
    ],
    cwd: ctx.dir,
    logFile: path.join(ctx.logDir, `${name}.log`),
    runAs: ctx.runAs,
    stopSignal: "SIGINT",
  };
}

/** Roles and database for the app; idempotent so a reused data dir passes through. */
export async function bootstrapPrimary(port: number): Promise<void> {
  const url = superUrl(port);
  const exists = async (sql: string, name: string) => (await queryOnce(url, sql, [name])).length > 0;
  if (!(await exists("SELECT 1 FROM pg_roles WHERE rolname = $1", APP_USER))) {
    await queryOnce(url, `CREATE ROLE ${APP_USER} LOGIN PASSWORD '${APP_PASSWORD}'`);
  }
  if (!(await exists("SELECT 1 FROM pg_roles WHERE rolname = $1", REPLICATION_USER))) {
    await queryOnce(url, `CREATE ROLE ${REPLICATION_USER} LOGIN REPLICATION`);
  }
  if (!(await exists("SELECT 1 FROM pg_database WHERE datname = $1", APP_DATABASE))) {
    await queryOnce(url, `CREATE DATABASE ${APP_DATABASE} OWNER ${APP_USER}`);
  }
  // Tests pause replay on a replica to prove reads-after-writes never hit a lagging one;
  // pg_monitor lets the app read replication lag. Function grants are per database: the app's.
  await queryOnce(
    url.replace(/\/postgres$/, `/${APP_DATABASE}`),
    `GRANT EXECUTE ON FUNCTION pg_wal_replay_pause(), pg_wal_replay_resume() TO ${APP_USER}; GRANT pg_monitor TO ${APP_USER}`,
  );
}

/** pg_basebackup -R with its own slot. Returns false when the replica's data dir was reused. */
export async function cloneReplica(ctx: PostgresContext, dataDir: string, index: number, primaryPort: number): Promise<boolean> {
  if (fs.existsSync(path.join(dataDir, "PG_VERSION"))) return false;
  fs.rmSync(dataDir, { recursive: true, force: true });
  // A slot left by an earlier, deleted copy of this replica would make -C fail.
  await queryOnce(
    superUrl(primaryPort),
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active",
    [slotName(index)],
  );
  await ctx.procs.run({
    command: path.join(ctx.bin, "pg_basebackup"),
    args: [
      "-h", "127.0.0.1", "-p", String(primaryPort), "-U", REPLICATION_USER,
      "-D", dataDir, "-R", "-X", "stream", "-C", "-S", slotName(index),
      "--checkpoint=fast", "--no-sync",
    ],
    cwd: ctx.dir,
    logFile: path.join(ctx.logDir, `${replicaName(index)}-basebackup.log`),
    runAs: ctx.runAs,
  });
  return true;
}

export async function waitForStreaming(primaryPort: number, names: string[], timeoutMs: number): Promise<void> {
  await waitUntil(
    async () => {
      const rows = await queryOnce<{ application_name: string }>(
        superUrl(primaryPort),
        "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'",
      );
      const streaming = new Set(rows.map((r) => r.application_name));
      return names.every((n) => streaming.has(n));
    },
    { what: `replicas ${names.join(", ")} streaming from the primary`, timeoutMs, intervalMs: 100 },
  );
}
