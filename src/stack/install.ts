import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/** One program the stack needs, and the Debian package that provides it. */
export interface Requirement {
  name: string;
  debianPackage: string;
  /** Optional programs are reported but never installed or required. */
  optional?: boolean;
  locate: () => string | undefined;
}

export interface Binaries {
  /** Directory holding initdb, postgres, pg_basebackup, pg_ctl. */
  postgresBin: string;
  redisServer: string;
  /** Forms the Redis Cluster (STACK_REDIS=cluster) and checks its health. */
  redisCli: string;
  pgbouncer: string;
  haproxy: string;
  /** WAL archiving, backups and point-in-time restores (src/stack/backup.ts). */
  pgbackrest: string;
}

const SEARCH_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

export function whichProgram(program: string, pathEnv = process.env.PATH ?? ""): string | undefined {
  // Non-root shells often lack /usr/sbin, where Debian puts pgbouncer and haproxy.
  const dirs = [...new Set([...pathEnv.split(":").filter(Boolean), ...SEARCH_PATH])];
  for (const dir of dirs) {
    const candidate = path.join(dir, program);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** Highest Postgres major in /usr/lib/postgresql/<major>/bin, preferring 15 (what we test on). */
function locatePostgresBin(root = "/usr/lib/postgresql"): string | undefined {
  let majors: string[];
  try {
    majors = fs.readdirSync(root).filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  majors.sort((a, b) => (a === "15" ? -1 : b === "15" ? 1 : Number(b) - Number(a)));
  return majors.map((m) => path.join(root, m, "bin")).find((bin) => fs.existsSync(path.join(bin, "initdb")));
}

const REQUIREMENTS: Requirement[] = [
  { name: "postgres", debianPackage: "postgresql", locate: () => locatePostgresBin() },
  { name: "redis-server", debianPackage: "redis-server", locate: () => whichProgram("redis-server") },
  { name: "redis-cli", debianPackage: "redis-tools", locate: () => whichProgram("redis-cli") },
  { name: "pgbouncer", debianPackage: "pgbouncer", locate: () => whichProgram("pgbouncer") },
  { name: "haproxy", debianPackage: "haproxy", locate: () => whichProgram("haproxy") },
  { name: "pgbackrest", debianPackage: "pgbackrest", locate: () => whichProgram("pgbackrest") },
];

/** The gateway runs Envoy when one is on PATH; Debian has no Envoy package, so nginx is what gets installed. */
export const GATEWAY_REQUIREMENTS: Requirement[] = [{ name: "nginx", debianPackage: "nginx", locate: () => whichProgram("nginx") }];

export function installCommand(packages: string[], asRoot: boolean): string {
  return `${asRoot ? "" : "sudo "}apt-get install -y ${packages.join(" ")}`;
}

export interface EnsureInstalledOptions {
  requirements?: Requirement[];
  isRoot?: boolean;
  log?: (line: string) => void;
}

/**
 * Finds every required program; as root installs the missing ones with apt-get, otherwise
 * throws with the exact command to run. Debian's packages start their own services on the
 * default ports; the stack never uses those (it picks its own ports and state dir).
 */
export function ensureInstalled(opts: EnsureInstalledOptions = {}): Binaries {
  const found = ensurePrograms(opts.requirements ?? REQUIREMENTS, opts);
  return {
    postgresBin: found.postgres!,
    redisServer: found["redis-server"]!,
    redisCli: found["redis-cli"]!,
    pgbouncer: found.pgbouncer!,
    haproxy: found.haproxy!,
    pgbackrest: found.pgbackrest!,
  };
}

/** ensureInstalled for any list of programs: their paths by name (optional ones may be missing). */
export function ensurePrograms(requirements: Requirement[], opts: Omit<EnsureInstalledOptions, "requirements"> = {}): Record<string, string | undefined> {
  const isRoot = opts.isRoot ?? process.getuid?.() === 0;
  const log = opts.log ?? (() => {});

  const missing = requirements.filter((r) => !r.optional && r.locate() === undefined);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((r) => r.debianPackage))];
    if (!isRoot) {
      throw new Error(`missing ${missing.map((r) => r.name).join(", ")}; install with:\n${installCommand(packages, false)}`);
    }
    log(`installing ${packages.join(" ")} with apt-get`);
    aptGet(["update"]);
    aptGet(["install", "-y", ...packages]);
    const still = missing.filter((r) => r.locate() === undefined);
    if (still.length > 0) throw new Error(`apt-get install did not provide ${still.map((r) => r.name).join(", ")}`);
  }

  return Object.fromEntries(requirements.map((r) => [r.name, r.locate()]));
}

function aptGet(args: string[]): void {
  // Test files install what they need at once (the stack's packages, promtool); apt refuses a
  // second run while one holds its lock, so they take turns.
  const result = spawnSync("flock", ["/var/lock/auth-platform-apt.lock", "apt-get", ...args], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (result.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed (exit ${result.status ?? result.signal})`);
}
