import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";

const PLACEHOLDER = /\$\{([A-Z][A-Z0-9_]*)\}/g;
const EACH_REPLICA = /\s*# @each replica\s*$/;

/**
 * Replaces ${NAME} placeholders (the envsubst syntax, so docker-compose can render the same
 * files). Throws naming every placeholder without a value, so a template edit cannot ship a
 * literal "${X}" into a config file.
 */
export function renderTemplate(template: string, vars: Record<string, string | number>): string {
  const missing = new Set<string>();
  const out = template.replace(PLACEHOLDER, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) {
      missing.add(name);
      return "";
    }
    return String(value);
  });
  if (missing.size > 0) throw new Error(`template placeholders without a value: ${[...missing].join(", ")}`);
  return out;
}

export interface Endpoint {
  host: string;
  port: number;
}

/** The host and port of an http://host:port URL, as the gateway's targets are given. */
export function endpointOf(url: string): Endpoint {
  const { hostname, port } = new URL(url);
  return { host: hostname, port: Number(port) };
}

/** Expands lines ending in "# @each replica" once per replica, then fills the placeholders. */
export function renderHaproxyConfig(
  template: string,
  vars: { listenAddr: string; readPort: number; statsPort: number; primary: Endpoint; replicas: Endpoint[]; checkUser: string },
): string {
  const lines: string[] = [];
  for (const line of template.split("\n")) {
    if (!EACH_REPLICA.test(line)) {
      lines.push(line);
      continue;
    }
    const body = line.replace(EACH_REPLICA, "");
    vars.replicas.forEach((replica, index) => {
      const own: Record<string, string | number> = { REPLICA_INDEX: index, REPLICA_HOST: replica.host, REPLICA_PORT: replica.port };
      // Only the per-replica names here; the rest are filled with the whole file below.
      lines.push(body.replace(PLACEHOLDER, (whole, name: string) => String(own[name] ?? whole)));
    });
  }
  return renderTemplate(lines.join("\n"), {
    LISTEN_ADDR: vars.listenAddr,
    READ_PORT: vars.readPort,
    STATS_PORT: vars.statsPort,
    PRIMARY_HOST: vars.primary.host,
    PRIMARY_PORT: vars.primary.port,
    CHECK_USER: vars.checkUser,
  });
}

export function renderPgbouncerConfig(
  template: string,
  vars: { listenAddr: string; listenPort: number; primary: Endpoint; authFile: string; pidFile: string; socketDir: string },
): string {
  return renderTemplate(template, {
    LISTEN_ADDR: vars.listenAddr,
    LISTEN_PORT: vars.listenPort,
    PRIMARY_HOST: vars.primary.host,
    PRIMARY_PORT: vars.primary.port,
    AUTH_FILE: vars.authFile,
    PID_FILE: vars.pidFile,
    SOCKET_DIR: vars.socketDir,
  });
}

export function renderUserlist(template: string, user: string, secret: string): string {
  return renderTemplate(template, { AUTH_USER: user, AUTH_SECRET: secret });
}

/**
 * The SCRAM-SHA-256 verifier in Postgres' stored format (RFC 5802 section 3, RFC 7677), so
 * PgBouncer's auth_file never holds the plain password.
 */
export function scramSecret(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize("NFKC"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}
