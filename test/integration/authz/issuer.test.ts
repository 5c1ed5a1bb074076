import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAuthServer } from "../../../src/auth/app.js";
import { loadAuthConfig } from "../../../src/auth/config.js";
import { createLogger } from "../../../src/platform/log.js";
import { findFreePort } from "../../../src/stack/ports.js";
import { type TestAuth, startTestAuth, testEnv } from "../../support/auth.js";
import { startTestAuthz } from "../../support/authz.js";

/** AUTH_ISSUER must be one the auth service signs with, or authz refuses to start (issue 9 item 7). */
describe("authz start-up issuer check", () => {
  let auth: TestAuth;
  beforeAll(async () => {
    auth = await startTestAuth({ AUTH_ISSUER: "http://gateway.test:8080" });
  });
  afterAll(async () => {
    await auth?.close();
  });

  it("the auth service publishes its issuer as RFC 8414 metadata", async () => {
    const response = await fetch(`${auth.server.url}/.well-known/oauth-authorization-server`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ issuer: "http://gateway.test:8080", jwks_uri: `${auth.config.shared.publicBaseUrl}/.well-known/jwks.json` });
  });

  it("starts when the issuers agree and refuses, naming AUTH_ISSUER, when they do not", async () => {
    const authz = await startTestAuthz(auth);
    await authz.close();
    await expect(startTestAuthz(auth, { AUTH_ISSUER: `http://127.0.0.1:${auth.server.port}` })).rejects.toThrow(
      /AUTH_ISSUER is "http:\/\/127\.0\.0\.1:\d+" but the auth service at .* signs as "http:\/\/gateway\.test:8080"/,
    );
  });

  it("waits for an auth service that is not up yet, and gives up after AUTHZ_ISSUER_WAIT", async () => {
    const port = await findFreePort();
    const metadata = { AUTHZ_ISSUER_METADATA_URL: `http://127.0.0.1:${port}/.well-known/oauth-authorization-server`, AUTH_ISSUER: "http://late.test" };
    await expect(startTestAuthz(auth, { ...metadata, AUTHZ_ISSUER_WAIT: "600ms" })).rejects.toThrow(/AUTH_ISSUER: could not confirm it .* within 600 ms/);

    const starting = startTestAuthz(auth, { ...metadata, AUTHZ_ISSUER_WAIT: "20s" });
    const config = loadAuthConfig(testEnv({ AUTH_PORT: String(port), AUTH_ISSUER: "http://late.test" }));
    const late = await startAuthServer(config, { log: createLogger("silent") });
    try {
      const authz = await starting;
      await authz.close();
    } finally {
      await late.close();
    }
  });

  it("the authz process exits 2 with the message, as for any configuration problem", async () => {
    const env = { PATH: process.env.PATH ?? "", REDIS_URL: testEnv().REDIS_URL ?? "", AUTHZ_PORT: "0", AUTHZ_HTTP_PORT: "0", LOG_LEVEL: "silent" };
    const run = promisify(execFile)(process.execPath, ["--import", "tsx", "src/main-authz.ts"], {
      env: { ...env, AUTHZ_JWKS_URL: `${auth.server.url}/.well-known/jwks.json`, AUTH_ISSUER: "http://wrong.test" },
      timeout: 30_000,
    });
    const failed = await run.then(() => undefined, (error: { code?: number; stderr?: string }) => error);
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toMatch(/authz server: invalid configuration:\n  - AUTH_ISSUER is "http:\/\/wrong\.test"/);
  });
});
