import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadAuthzConfig } from "../../../src/authz/config.js";
import { loadAuthConfig } from "../../../src/auth/config.js";
import { loadMailWorkerConfig } from "../../../src/auth/mail/config.js";
import { COMPOSE, COMPOSE_TEXT, dockerfileCopies, environmentOf, INTERPOLATION, interpolate, namesRead, REPO, REQUIRED_VALUES, service } from "../../support/compose-file.js";
import { loadRateLimitConfig } from "../../../src/ratelimit/config.js";
import { ENVOY_VERSION } from "../../../src/stack/envoy-install.js";

const services = Object.entries(COMPOSE.services);
const isOneShot = (name: string) => service(name).restart === "no";

/** "127.0.0.1:7001:7001" or "8080:8080" -> host address, host port, container port. */
function published(name: string): Array<{ address: string; host: number; container: number }> {
  return (service(name).ports ?? []).map((spec) => {
    const parts = interpolate(spec).split(":");
    const container = Number(parts.pop());
    const host = Number(parts.pop());
    return { address: parts.pop() ?? "0.0.0.0", host, container };
  });
}

describe("docker-compose.yml", () => {
  it("has the data, app, gateway and mail profiles, and every service belongs to one", () => {
    const profiles = new Set(services.flatMap(([, s]) => s.profiles ?? []));
    expect([...profiles].sort()).toEqual(["app", "data", "gateway", "mail", "monitoring"]);
    for (const [name, s] of services) expect(s.profiles?.length, `${name} has no profile`).toBeGreaterThan(0);
  });

  it("runs the real programs from the images the design names", () => {
    expect(service("postgres-primary").image).toBe("postgres:15-bookworm");
    for (const i of [0, 1, 2]) expect(service(`postgres-replica-${i}`).image).toBe("postgres:15-bookworm");
    expect(service("redis").image).toBe("redis:7");
    expect(String(service("redis").command)).toMatch(/--appendonly yes --appendfsync everysec/);
    expect(service("haproxy").image).toMatch(/^haproxy:2\.[68]$/);
    expect(service("pgbouncer").image).toMatch(/^edoburu\/pgbouncer:/);
    // The Envoy the launcher and every test run (envoy-install.ts): one version, one config's meaning.
    expect(service("envoy").image).toBe(`envoyproxy/envoy:v${ENVOY_VERSION.split(".").slice(0, 2).join(".")}-latest`);
  });

  it("mounts, builds and runs only files that exist in the repo, and the image keeps what the commands run", () => {
    const ignored = readFileSync(path.join(REPO, ".dockerignore"), "utf8")
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#"));
    const copies = dockerfileCopies();
    for (const [name, s] of services) {
      const binds = (s.volumes ?? []).map((v) => v.split(":")).filter(([source]) => source?.startsWith("./"));
      for (const [source] of binds) expect(existsSync(path.join(REPO, source as string)), `${name} mounts ${source}`).toBe(true);
      if (s.build !== undefined) {
        const context = typeof s.build === "string" ? s.build : s.build.context;
        const dockerfile = typeof s.build === "string" ? "Dockerfile" : (s.build.dockerfile ?? "Dockerfile");
        expect(existsSync(path.join(REPO, context, dockerfile)), `${name} builds ${dockerfile}`).toBe(true);
      }
      for (const arg of [...(s.entrypoint ?? []), ...(s.command ?? [])]) {
        for (const file of arg.match(/[\w./-]+\.(?:ts|js|sh)\b/g) ?? []) {
          if (file.startsWith("/")) {
            // A path inside the container: it must come from a bind mount of a repo file or directory.
            const bind = binds.find(([, target]) => file === target || file.startsWith(`${target}/`));
            expect(bind, `${name} runs ${file}, which no bind mount provides`).toBeDefined();
            const [source = "", target = ""] = bind ?? [];
            expect(existsSync(path.join(REPO, source, file.slice(target.length))), `${name} runs ${file}`).toBe(true);
          } else {
            // Relative to the image's WORKDIR: what its stage copied of the repo, minus .dockerignore;
            // dist/ is compiled inside the image from src/ (tsconfig.build.json).
            const compiled = /^dist\/(.+)\.js$/.exec(file);
            const origin = compiled ? `src/${compiled[1]}.ts` : file;
            expect(existsSync(path.join(REPO, origin)), `${name} runs ${file}`).toBe(true);
            if (!compiled) expect(ignored, `${name} runs ${file}, which .dockerignore leaves out`).not.toContain(file.split("/")[0]);
            const target = typeof s.build === "object" ? s.build.target : undefined;
            const copied = copies[target ?? "runtime"] ?? [];
            expect(copied.some((source) => source === "." || file === source || file.startsWith(`${source}/`)), `${name} runs ${file}, which its image (${target}) does not copy`).toBe(true);
          }
        }
      }
    }
  });

  it("gives auth, authz, the rate limit service and the mail worker only variables their loaders read, with values they accept", () => {
    const loaders = { auth: loadAuthConfig, authz: loadAuthzConfig, "mail-worker": loadMailWorkerConfig, ratelimit: loadRateLimitConfig };
    for (const [name, load] of Object.entries(loaders)) {
      const env = environmentOf(name);
      const read = namesRead(load, env);
      expect(Object.keys(env).filter((key) => !read.has(key)), `${name}: variables its config never reads`).toEqual([]);
    }
    // main-migrate.ts reads these three and nothing else.
    expect(Object.keys(environmentOf("migrate")).filter((key) => !["DATABASE_PRIMARY_URL", "DATABASE_URL", "LOG_LEVEL"].includes(key))).toEqual([]);
  });

  it("routes each path of the data tier to the right program", () => {
    const auth = loadAuthConfig(environmentOf("auth"));
    expect(new URL(auth.databaseUrl).host).toBe("pgbouncer:6432");
    // Migrations take a session advisory lock: never through the transaction pool.
    expect(new URL(auth.databasePrimaryUrl).host).toBe("postgres-primary:5432");
    expect(new URL(environmentOf("migrate").DATABASE_PRIMARY_URL ?? "").host).toBe("postgres-primary:5432");
    expect(new URL(auth.databaseReplicaUrl ?? "").host).toBe(`haproxy:${environmentOf("haproxy").READ_PORT}`);
    expect(new URL(loadMailWorkerConfig(environmentOf("mail-worker")).databaseUrl).host).toBe(`pgbouncer:${environmentOf("pgbouncer").LISTEN_PORT}`);
    expect(new URL(loadMailWorkerConfig(environmentOf("mail-worker")).smtpUrl).host).toBe(`mail-sink:${environmentOf("mail-sink").MAIL_SINK_PORT}`);
  });

  it("gives the gateway's rate limit filter the service's domain and address", () => {
    const rls = loadRateLimitConfig(environmentOf("ratelimit"));
    expect(environmentOf("envoy-config").RATE_LIMIT_DOMAIN).toBe(rls.domain);
    expect(environmentOf("envoy-config").RATELIMIT_ADDR).toBe(`ratelimit:${rls.port}`);
    expect(rls.redis.kind === "node" && new URL(rls.redis.url).host).toBe("redis:6379");
  });

  it("makes auth and authz agree on tokens, and trusts only the gateway's fixed address for X-Forwarded-For", () => {
    const auth = loadAuthConfig(environmentOf("auth"));
    const authz = loadAuthzConfig(environmentOf("authz"));
    expect(authz.shared).toEqual(auth.shared);
    // Behind TLS the cookie auth sets is __Host- prefixed: authz must read the same name.
    const https = { ...REQUIRED_VALUES, PUBLIC_BASE_URL: "https://auth.example.com" };
    const httpsAuth = loadAuthConfig(environmentOf("auth", https));
    expect(httpsAuth.shared.sessionCookieName).toBe("__Host-auth_session");
    expect(loadAuthzConfig(environmentOf("authz", https)).shared).toEqual(httpsAuth.shared);
    expect(new URL(authz.jwksUrl).host).toBe(`auth:${auth.port}`);

    const gatewayIp = interpolate(service("envoy").networks?.default?.ipv4_address ?? "");
    expect(auth.trustedProxies).toEqual([gatewayIp]);
    const [ipam] = COMPOSE.networks.default.ipam.config;
    const prefix = (cidr: string) => interpolate(cidr).replace(/\.0\/\d+$/, "");
    expect(gatewayIp.startsWith(`${prefix(ipam?.subnet ?? "")}.`)).toBe(true);
    // Docker hands out dynamic addresses from ip_range (.0/25: .1-.127); the gateway's is above it.
    expect(interpolate(ipam?.ip_range ?? "")).toMatch(/\.0\/25$/);
    expect(Number(gatewayIp.split(".")[3])).toBeGreaterThan(127);
  });

  it("publishes the README's default ports: auth 7001 and authz 7002/7003 on loopback, the gateway 8080", () => {
    const auth = loadAuthConfig(environmentOf("auth"));
    const authz = loadAuthzConfig(environmentOf("authz"));
    expect(published("auth")).toEqual([{ address: "127.0.0.1", host: 7001, container: auth.port }]);
    expect(auth.port).toBe(7001);
    expect(published("authz")).toEqual([
      { address: "127.0.0.1", host: 7002, container: authz.port },
      { address: "127.0.0.1", host: 7003, container: authz.httpPort },
    ]);
    expect(published("envoy")).toEqual([{ address: "0.0.0.0", host: 8080, container: 8080 }]);
    expect(published("grafana")).toEqual([{ address: "127.0.0.1", host: 3000, container: 3000 }]);
    // Everything else stays on the compose network; the example upstream believes identity headers.
    for (const [name, s] of services) if (!["auth", "authz", "envoy", "grafana"].includes(name)) expect(s.ports, `${name} publishes a port`).toBeUndefined();
  });

  it("health-checks every long-running service, and the one-shots are awaited to completion", () => {
    for (const [name, s] of services) {
      if (isOneShot(name)) {
        expect(s.healthcheck, `${name} is a one-shot`).toBeUndefined();
        const dependents = services.filter(([, other]) => other.depends_on?.[name]);
        expect(dependents.length, `nothing waits for ${name}`).toBeGreaterThan(0);
        for (const [, other] of dependents) expect(other.depends_on?.[name]?.condition).toBe("service_completed_successfully");
        continue;
      }
      expect(s.healthcheck?.test?.[0], `${name} has no healthcheck`).toMatch(/^CMD(-SHELL)?$/);
      expect(s.restart, `${name} is not restarted`).toBe("unless-stopped");
    }
    for (const [name, s] of services) {
      for (const dependency of Object.keys(s.depends_on ?? {})) expect(COMPOSE.services[dependency], `${name} depends on ${dependency}`).toBeDefined();
    }
  });

  it("has no default for any secret", () => {
    const secret = /PASSWORD|SECRET|_KEY$|TOKEN/;
    const uses = [...COMPOSE_TEXT.matchAll(INTERPOLATION)].filter((m) => m[1] !== undefined);
    const secretUses = uses.filter((m) => secret.test(m[1] as string));
    expect(new Set(secretUses.map((m) => m[1]))).toEqual(
      new Set(["SIGNING_KEY_ENCRYPTION_KEY", "POSTGRES_PASSWORD", "AUTH_DB_PASSWORD", "REPLICATION_PASSWORD", "REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD"]),
    );
    for (const m of secretUses) expect(m[2], `${m[0]} must be \${${m[1]}:?...}`).toBe(":?");
    for (const [name, s] of services) {
      for (const [key, value] of Object.entries(s.environment ?? {})) {
        const raw = String(value);
        // A secret-named variable is exactly one required interpolation, never a literal.
        if (secret.test(key)) expect(raw, `${name}.${key}`).toMatch(/^\$\{[A-Z_]+:\?[^}]*\}$/);
        // A password inside a URL too.
        const password = /^[a-z]+:\/\/[^:/@]*:([^@]*)@/.exec(raw)?.[1];
        if (password !== undefined) expect(password, `${name}.${key}`).toMatch(/^\$\{[A-Z_]+:\?[^}]*\}$/);
      }
    }
  });

  it("stops with the variable's name when a secret is missing", () => {
    expect(() => interpolate(String(service("auth").environment?.SIGNING_KEY_ENCRYPTION_KEY), {})).toThrow(/SIGNING_KEY_ENCRYPTION_KEY/);
  });
});
