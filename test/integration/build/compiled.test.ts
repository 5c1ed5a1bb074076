import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AuthService } from "../../../src/gen/auth/v1/auth_pb.js";
import { findFreePort } from "../../../src/stack/ports.js";
import { waitUntil } from "../../../src/stack/readiness.js";
import { connectTransport, GOOD_PASSWORD, testEnv, uniqueEmail } from "../../support/auth.js";
import { startTestCollector, type TestCollector } from "../../support/otel-collector.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

/** Runs a compiled entry point as the production image does: node, no TypeScript loader. */
function run(entry: string, env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [entry], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "ignore", "pipe"] });
}

const alive = (child: ChildProcess) => () => child.exitCode === null && child.signalCode === null;

describe("the compiled services (dist/, what the production image and npm run serve run)", () => {
  const children: ChildProcess[] = [];
  let authUrl = "";
  let authzUrl = "";
  let collector: TestCollector;

  beforeAll(async () => {
    collector = await startTestCollector();
    expect(existsSync(`${ROOT}/dist/main-auth.js`), "npm test builds dist/ first (npm run build)").toBe(true);
    const [authPort, grpcPort, httpPort] = [await findFreePort(), await findFreePort(), await findFreePort()];
    // Traced, as compiled JavaScript: no loader hook is needed for the spans (src/platform/tracing.ts).
    const env = testEnv({ AUTH_PORT: String(authPort), OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint });
    authUrl = `http://127.0.0.1:${authPort}`;
    authzUrl = `http://127.0.0.1:${httpPort}`;
    const auth = run("dist/main-auth.js", env);
    children.push(auth);
    await waitUntil(async () => (await fetch(`${authUrl}/readyz`)).ok, { what: "compiled auth service", timeoutMs: 30_000, alive: alive(auth) });
    const authz = run("dist/main-authz.js", {
      REDIS_URL: env.REDIS_URL ?? "",
      AUTHZ_PORT: String(grpcPort),
      AUTHZ_HTTP_PORT: String(httpPort),
      AUTHZ_JWKS_URL: `${authUrl}/.well-known/jwks.json`,
      LOG_LEVEL: "silent",
    });
    children.push(authz);
    await waitUntil(async () => (await fetch(`${authzUrl}/readyz`)).ok, { what: "compiled authz server", timeoutMs: 30_000, alive: alive(authz) });
  });
  afterAll(async () => {
    for (const child of children) child.kill("SIGKILL");
    await collector?.close();
  });

  it("signs in through the compiled auth service, traced, and the compiled authz server accepts its token", async () => {
    const client = createClient(AuthService, connectTransport(authUrl));
    const email = uniqueEmail("compiled");
    await client.signUp({ email, password: GOOD_PASSWORD });
    const { accessToken } = await client.signIn({ email, password: GOOD_PASSWORD });
    const answer = await fetch(`${authzUrl}/auth/forward`, { headers: { "x-original-uri": "/example/", "x-original-method": "GET", authorization: `Bearer ${accessToken}` } });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("x-auth-level")).toBe("basic");

    // The compiled service traces too: its SignIn span, with the Postgres and Redis calls beneath it.
    await vi.waitFor(
      () => {
        const signIn = collector.spans().find((s) => s.service === "auth" && s.name === "auth.v1.AuthService/SignIn");
        expect(signIn).toBeDefined();
        const children = collector.spans().filter((s) => s.parentSpanId === signIn?.spanId).map((s) => s.attributes["db.system.name"]);
        expect(children).toContain("redis");
      },
      { timeout: 10_000, interval: 200 },
    );
  });
});
