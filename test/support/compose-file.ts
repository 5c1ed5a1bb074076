import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";

/** What the deploy tests read of docker-compose.yml (after YAML merge keys are applied). */
export interface ComposeService {
  profiles?: string[];
  image?: string;
  build?: string | { context: string; dockerfile?: string; target?: string };
  entrypoint?: string[];
  command?: string[];
  restart?: string;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[] };
  networks?: Record<string, { ipv4_address?: string } | null>;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  networks: { default: { ipam: { config: Array<{ subnet: string; ip_range: string }> } } };
  volumes: Record<string, unknown>;
}

export const REPO = path.resolve(import.meta.dirname, "../..");
export const COMPOSE_TEXT = readFileSync(path.join(REPO, "docker-compose.yml"), "utf8");
// Compose applies YAML 1.1 merge keys (<<: *anchor); so must the parser.
export const COMPOSE = parse(COMPOSE_TEXT, { merge: true }) as ComposeFile;

export function service(name: string): ComposeService {
  const found = COMPOSE.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

/** Plausible values for the variables an operator must set (hex passwords, as documented). */
export const REQUIRED_VALUES: Record<string, string> = {
  SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
  POSTGRES_PASSWORD: randomBytes(24).toString("hex"),
  AUTH_DB_PASSWORD: randomBytes(24).toString("hex"),
  REPLICATION_PASSWORD: randomBytes(24).toString("hex"),
  REDIS_PASSWORD: randomBytes(24).toString("hex"),
  GRAFANA_ADMIN_PASSWORD: randomBytes(24).toString("hex"),
};

/** ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}, and $$ (a literal $). */
export const INTERPOLATION = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g;

/** Compose's variable interpolation with `vars` as the operator's environment; throws where compose would stop. */
export function interpolate(value: string, vars: Record<string, string> = REQUIRED_VALUES): string {
  return value.replace(INTERPOLATION, (whole, name: string | undefined, op: string | undefined, arg: string | undefined) => {
    if (whole === "$$") return "$";
    const set = name !== undefined && vars[name] !== undefined && vars[name] !== "";
    if (op?.endsWith("?")) {
      if (!set) throw new Error(`compose would stop: ${arg}`);
      return vars[name as string] as string;
    }
    if (op?.endsWith("-")) return set ? (vars[name as string] as string) : (arg ?? "");
    if (!set) throw new Error(`\${${name}} has neither a value nor a default`);
    return vars[name as string] as string;
  });
}

/** A service's environment as its process would see it with REQUIRED_VALUES set and nothing else. */
export function environmentOf(name: string, vars: Record<string, string> = REQUIRED_VALUES): Record<string, string> {
  return Object.fromEntries(Object.entries(service(name).environment ?? {}).map(([key, value]) => [key, interpolate(String(value), vars)]));
}

/**
 * What each Dockerfile stage holds of the repository, by stage name: the source paths of its COPY
 * lines ("." meaning the whole context), and the destination of what it copies from a build
 * stage. Stages that build FROM another inherit its copies.
 */
export function dockerfileCopies(): Record<string, string[]> {
  const stages: Record<string, string[]> = {};
  let current: string[] | undefined;
  for (const line of readFileSync(path.join(REPO, "Dockerfile"), "utf8").split("\n")) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) {
      current = [...(stages[from[1] ?? ""] ?? [])];
      stages[from[2] ?? from[1] ?? ""] = current;
      continue;
    }
    const copy = /^COPY\s+(?!--from)(.+)$/i.exec(line);
    if (copy && current) current.push(...(copy[1] ?? "").trim().split(/\s+/).slice(0, -1).map((p) => p.replace(/\/$/, "")));
    // Built inside the image (`COPY --from=build /app/dist/ dist/`): counted by where it lands.
    const built = /^COPY\s+--from=\S+\s+\S+\s+(\S+)$/i.exec(line);
    if (built && current) current.push((built[1] ?? "").replace(/\/$/, ""));
  }
  return stages;
}

/** Runs a config loader on `env`, returning the variable names it read. */
export function namesRead(load: (env: Record<string, string | undefined>) => unknown, env: Record<string, string>): Set<string> {
  const read = new Set<string>();
  const recording = new Proxy(env, {
    get(target, key, receiver) {
      if (typeof key === "string") read.add(key);
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  load(recording);
  return read;
}
