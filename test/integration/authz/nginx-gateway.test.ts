import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, createServer, get as httpGet, type Server } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, type TestAuth, newUser, startTestAuth, userIdOf } from "../../support/auth.js";
import { type TestAuthz, startTestAuthz } from "../../support/authz.js";
import { browserSignIn } from "../../support/browser.js";
import { findFreePort } from "../../../src/stack/ports.js";

const TEMPLATE = path.resolve(import.meta.dirname, "../../../nginx/nginx.conf.template");
/** nginx/nginx.conf.template for real: nginx + the authz forward-auth endpoint + an echoing upstream. */
describe("nginx auth_request gateway", () => {
  let auth: TestAuth;
  let authz: TestAuthz;
  let echo: Server;
  let nginx: ChildProcess;
  let gateway: string;
  const dir = mkdtempSync(path.join(tmpdir(), "nginx-gw-"));

  beforeAll(async () => {
    auth = await startTestAuth();
    const listen = await findFreePort();
    gateway = `http://127.0.0.1:${listen}`;
    authz = await startTestAuthz(auth, { SIGNIN_URL: `${gateway}/signin` });
    echo = createServer((req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ userId: req.headers["x-user-id"] ?? null, level: req.headers["x-auth-level"] ?? null, requestId: req.headers["x-request-id"] }));
    });
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    const values: Record<string, string> = {
      LISTEN: `127.0.0.1:${listen}`,
      AUTH: auth.server.url.replace("http://", ""),
      AUTHZ_HTTP: authz.server.httpUrl.replace("http://", ""),
      EXAMPLE: `127.0.0.1:${(echo.address() as { port: number }).port}`,
      RUN_DIR: dir,
      ACCESS_LOG: path.join(dir, "access.log"),
    };
    const file = path.join(dir, "nginx.conf");
    writeFileSync(file, readFileSync(TEMPLATE, "utf8").replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => values[name] ?? ""));
    nginx = spawn("nginx", ["-e", "stderr", "-p", dir, "-c", file], { stdio: "ignore" });
    for (let i = 0; ; i++) {
      try {
        await fetch(`${gateway}/.well-known/jwks.json`);
        break;
      } catch (error) {
        if (i > 100) throw error;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });
  afterAll(async () => {
    if (nginx && nginx.exitCode === null && nginx.signalCode === null) {
      const exited = new Promise((resolve) => nginx.once("exit", resolve));
      nginx.kill("SIGQUIT");
      await exited;
    }
    await new Promise((resolve) => echo?.close(resolve));
    await authz?.close();
    await auth?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("passes the identity upstream and replaces a forged x-user-id", async () => {
    const { email, tokens } = await newUser(auth.client);
    const response = await fetch(`${gateway}/example/hello`, { headers: { authorization: `Bearer ${tokens.accessToken}`, "x-user-id": "admin" } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ userId: userIdOf(tokens.accessToken), level: "basic" });
    const cookie = await browserSignIn(gateway, email, GOOD_PASSWORD);
    const viaCookie = await fetch(`${gateway}/example/hello`, { headers: { cookie: `auth_session=${cookie}` } });
    expect(await viaCookie.json()).toMatchObject({ userId: userIdOf(tokens.accessToken) });
  });

  it("answers API clients 401 with WWW-Authenticate and the reason, browsers 302 to sign in", async () => {
    const api = await fetch(`${gateway}/example/hello`, { headers: { accept: "application/json", "x-user-id": "admin" } });
    expect(api.status).toBe(401);
    expect(api.headers.get("www-authenticate")).toBe('Bearer realm="auth-platform"');
    expect(api.headers.get("x-auth-reason")).toBe("missing_credential");
    const browser = await fetch(`${gateway}/example/page?x=1`, { headers: { accept: "text/html" }, redirect: "manual" });
    expect(browser.status).toBe(302);
    expect(browser.headers.get("location")).toBe(`${gateway}/signin?return_to=%2Fexample%2Fpage%3Fx%3D1`);
    expect((await fetch(`${gateway}/anything-else`)).status).toBe(401);
  });

  it("serves public routes without identity and forwards Connect JSON sign-in", async () => {
    expect((await fetch(`${gateway}/.well-known/jwks.json`)).status).toBe(200);
    const signIn = await fetch(`${gateway}/auth.v1.AuthService/SignIn`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "nobody@example.com", password: "wrong wrong wrong" }),
    });
    expect(signIn.status).toBe(401);
    expect(signIn.headers.get("x-auth-reason")).toBeNull();
    expect(signIn.headers.get("cache-control")).toBe("no-store");
  });

  it("passes the auth service's Cache-Control: no-store on to the client with the tokens (RFC 6749 5.1)", async () => {
    const { email, password } = await newUser(auth.client);
    const signIn = await fetch(`${gateway}/auth.v1.AuthService/SignIn`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
    expect(signIn.status).toBe(200);
    expect(await signIn.json()).toHaveProperty("accessToken");
    expect(signIn.headers.get("cache-control")).toBe("no-store");
  });

  it("keeps serving a live keep-alive client while 1,500 idle connections are open", async () => {
    const port = Number(new URL(gateway).port);
    const live = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<number>((resolve, reject) =>
        httpGet(`${gateway}/.well-known/jwks.json`, { agent: live }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        }).on("error", reject),
      );
    expect(await get()).toBe(200);
    const idle: Socket[] = [];
    try {
      for (let i = 0; i < 1500; i++) {
        const socket = connect(port, "127.0.0.1");
        socket.on("error", () => {});
        idle.push(socket);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      // The same keep-alive connection, and new ones, are still answered.
      for (let i = 0; i < 5; i++) expect(await get()).toBe(200);
      expect((await fetch(`${gateway}/.well-known/jwks.json`)).status).toBe(200);
      expect(idle.filter((s) => s.destroyed).length).toBe(0);
    } finally {
      for (const socket of idle) socket.destroy();
      live.destroy();
    }
  });
});
