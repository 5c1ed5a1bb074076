import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { IDENTITY_HEADERS } from "../../../src/authz/verdict.js";

const TEMPLATE = path.resolve(import.meta.dirname, "../../../nginx/nginx.conf.template");

function render(values: Record<string, string>): string {
  const text = readFileSync(TEMPLATE, "utf8").replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for {{${name}}}`);
    return value;
  });
  return text;
}

const nginxTest = (file: string, dir: string) => {
  try {
    return { ok: true, output: execFileSync("nginx", ["-t", "-q", "-e", "stderr", "-p", dir, "-c", file], { encoding: "utf8", stdio: "pipe" }) };
  } catch (error) {
    return { ok: false, output: String((error as { stderr?: string }).stderr ?? error) };
  }
};

describe("nginx/nginx.conf.template", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "nginx-conf-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const values = { LISTEN: "127.0.0.1:18080", AUTH: "127.0.0.1:17001", AUTHZ_HTTP: "127.0.0.1:17003", EXAMPLE: "127.0.0.1:17010", RUN_DIR: dir, ACCESS_LOG: path.join(dir, "access.log") };

  it("documents every placeholder it uses", () => {
    const text = readFileSync(TEMPLATE, "utf8");
    const used = new Set([...text.matchAll(/\{\{([A-Z_]+)\}\}/g)].map((m) => m[1]));
    expect([...used].sort()).toEqual(Object.keys(values).sort());
    for (const name of used) expect(text).toMatch(new RegExp(`^#\\s+\\{\\{${name}\\}\\}`, "m"));
  });

  it("renders to a config `nginx -t` accepts", () => {
    const file = path.join(dir, "nginx.conf");
    writeFileSync(file, render(values));
    const result = nginxTest(file, dir);
    expect(result.output).not.toMatch(/emerg|\[warn\]/);
    expect(result.ok).toBe(true);
  });

  it("holds thousands of connections, bounds connects and closes upstream keep-alives before the services do", () => {
    const text = render(values);
    expect(text).toMatch(/^worker_rlimit_nofile (\d+);$/m);
    const connections = Number(/worker_connections (\d+);/.exec(text)?.[1]);
    const files = Number(/^worker_rlimit_nofile (\d+);$/m.exec(text)?.[1]);
    expect(connections).toBeGreaterThanOrEqual(4096);
    // Each proxied request holds a client and an upstream descriptor.
    expect(files).toBeGreaterThanOrEqual(2 * connections);
    expect(text).toMatch(/^\s{4}proxy_connect_timeout 2s;$/m);
    const upstreams = [...text.matchAll(/upstream (\w+) \{([^}]*)\}/g)];
    expect(upstreams.map((m) => m[1])).toEqual(["auth", "authz", "example"]);
    // The services close idle keep-alive connections at 65 s (HTTP_KEEPALIVE_TIMEOUT): nginx must let go first.
    for (const [, , body] of upstreams) expect(Number(/keepalive_timeout (\d+)s;/.exec(body ?? "")?.[1])).toBeLessThan(65);
  });

  it("is really checked: a broken directive fails `nginx -t`", () => {
    const file = path.join(dir, "broken.conf");
    writeFileSync(file, render(values).replace("auth_request /_authz;", "auth_requets /_authz;"));
    expect(nginxTest(file, dir).ok).toBe(false);
  });

  it("guards every proxied location except the public ones, and strips client identity headers", () => {
    const text = render(values);
    const locations = [...text.matchAll(/^\s*location ([^{\n]+)\{([^}]*)\}/gm)].map((m) => ({ name: (m[1] ?? "").trim(), body: m[2] ?? "" }));
    const open = locations.filter((l) => l.body.includes("proxy_pass http://") && !l.body.includes("auth_request /_authz")).map((l) => l.name);
    expect(open).toEqual([
      "= /_authz",
      "= /auth.v1.AuthService/SignUp",
      "= /auth.v1.AuthService/SignIn",
      "= /auth.v1.AuthService/Refresh",
      "= /auth.v1.AuthService/CompleteSignIn",
      "= /auth.v1.AuthService/RequestPasswordReset",
      "= /auth.v1.AuthService/ResetPassword",
      "= /auth.v1.AuthService/VerifyEmail",
      "= /auth.v1.PasskeyService/BeginPasskeySignIn",
      "= /auth.v1.PasskeyService/CompletePasskeySignIn",
      "^~ /signin",
      "= /signup",
      "^~ /assets/",
      "= /signout",
      "= /forgot-password",
      "= /verify-email",
      "= /reset-password",
      "= /.well-known/jwks.json",
      "= /.well-known/oauth-authorization-server",
      "= /.well-known/openid-configuration",
      "^~ /oauth2/",
    ]);
    // Every header the Check may set upstream is taken from its answer, and a client's copy replaced.
    for (const header of IDENTITY_HEADERS) {
      expect(text, header).toMatch(new RegExp(`proxy_set_header ${header} \\$authz_\\w+;`, "i"));
      expect(text, header).toMatch(new RegExp(`auth_request_set \\$authz_\\w+ \\$upstream_http_${header.replaceAll("-", "_")};`));
    }
  });
});
