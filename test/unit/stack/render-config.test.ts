import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { renderHaproxyConfig, renderPgbouncerConfig, renderTemplate, renderUserlist, scramSecret } from "../../../src/stack/render-config.js";

const repoFile = (p: string) => fs.readFileSync(fileURLToPath(new URL(`../../../${p}`, import.meta.url)), "utf8");
const primary = { host: "127.0.0.1", port: 5000 };

describe("renderTemplate", () => {
  it("replaces ${NAME} placeholders and leaves other dollars alone", () => {
    expect(renderTemplate("port=${PORT} cost=$5 ${A}${A}", { PORT: 1, A: "x" })).toBe("port=1 cost=$5 xx");
  });

  it("names every placeholder without a value", () => {
    expect(() => renderTemplate("${A} ${B} ${A}", {})).toThrow("template placeholders without a value: A, B");
  });
});

describe("the repo's config templates", () => {
  it("render pgbouncer.ini for transaction pooling with SCRAM auth and no placeholder left", () => {
    const ini = renderPgbouncerConfig(repoFile("pgbouncer/pgbouncer.ini"), {
      listenAddr: "127.0.0.1",
      listenPort: 6432,
      primary,
      authFile: "/s/pgbouncer/userlist.txt",
      pidFile: "/s/pgbouncer/pgbouncer.pid",
      socketDir: "/s/sock",
    });
    expect(ini).not.toContain("${");
    expect(ini).toMatch(/^pool_mode = transaction$/m);
    expect(ini).toMatch(/^auth_type = scram-sha-256$/m);
    expect(ini).toMatch(/^listen_port = 6432$/m);
    expect(ini).toMatch(/^auth = host=127\.0\.0\.1 port=5000 dbname=auth$/m);
  });

  it("render userlist.txt with the secret, never the password", () => {
    const secret = scramSecret("auth", Buffer.alloc(16, 1));
    const list = renderUserlist(repoFile("pgbouncer/userlist.txt"), "auth", secret);
    expect(list).toContain(`"auth" "${secret}"`);
    expect(list).not.toContain('"auth" "auth"');
  });

  it("render haproxy.cfg with one checked server per replica and the primary as backup", () => {
    const cfg = renderHaproxyConfig(repoFile("haproxy/haproxy.cfg"), {
      listenAddr: "127.0.0.1",
      readPort: 7000,
      statsPort: 7001,
      primary,
      replicas: [5001, 5002, 5003].map((port) => ({ host: "127.0.0.1", port })),
      checkUser: "auth",
    });
    expect(cfg).not.toContain("${");
    expect(cfg).not.toMatch(/^\s*server .*@each/m);
    const servers = cfg.split("\n").filter((l) => l.trim().startsWith("server "));
    expect(servers.map((l) => l.trim())).toEqual([
      "server replica-0 127.0.0.1:5001 check",
      "server replica-1 127.0.0.1:5002 check",
      "server replica-2 127.0.0.1:5003 check",
      "server primary 127.0.0.1:5000 check backup",
    ]);
    expect(cfg).toMatch(/option pgsql-check user auth/);
    expect(cfg).toMatch(/bind 127\.0\.0\.1:7000/);
    expect(cfg).toMatch(/bind 127\.0\.0\.1:7001/);
    expect(cfg).toMatch(/stats uri \/stats/);
    expect(cfg).toMatch(/monitor-uri \/healthz/);
  });
});

describe("scramSecret", () => {
  it("has Postgres' stored format and is deterministic for a given salt", () => {
    const salt = Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64");
    const secret = scramSecret("pencil", salt);
    expect(secret).toMatch(/^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
    expect(scramSecret("pencil", salt)).toBe(secret);
    expect(scramSecret("pencil")).not.toBe(scramSecret("pencil"));
  });
});

describe("haproxy.cfg connection hygiene", () => {
  const cfg = repoFile("haproxy/haproxy.cfg");

  it("keeps TCP keepalive on both sides, bounded idle timeouts and queueing, and a per-server connection cap", () => {
    expect(cfg).toMatch(/^\s*option clitcpka$/m);
    expect(cfg).toMatch(/^\s*option srvtcpka$/m);
    expect(cfg).toMatch(/^\s*timeout client 5m$/m);
    expect(cfg).toMatch(/^\s*timeout server 5m$/m);
    expect(cfg).toMatch(/^\s*timeout queue \d+s$/m);
    expect(cfg).toMatch(/^\s*default-server .* maxconn 150$/m);
  });
});
