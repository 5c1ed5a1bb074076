import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TLSSocket } from "node:tls";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startExampleUpstream } from "../../../src/example/upstream.js";
import { AuthService } from "../../../src/gen/auth/v1/auth_pb.js";
import { findFreePort } from "../../../src/stack/ports.js";
import { endpointOf } from "../../../src/stack/render-config.js";
import { ensureLocalCertificate } from "../../../src/stack/tls.js";
import { type TestAuth, startTestAuth } from "../../support/auth.js";
import { type TestAuthz, startTestAuthz } from "../../support/authz.js";
import { startTestEnvoy, type TestEnvoy } from "../../support/envoy-process.js";

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  peerIssuer?: string;
}

/** One HTTPS request with Node's own TLS verification against `ca` (no curl, no flags). */
function httpsGet(url: string, options: { ca?: string; headers?: Record<string, string>; servername?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { ca: options.ca, headers: options.headers, servername: options.servername, agent: false }, (response) => {
      let body = "";
      const peer = (response.socket as TLSSocket).getPeerCertificate();
      response.on("data", (chunk: Buffer) => (body += chunk.toString()));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body, peerIssuer: String(peer.issuer?.CN) }));
    });
    request.on("error", reject);
  });
}

describe("HTTPS at the edge (Envoy's gateway_tls listener)", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "edge-tls-"));
  let auth: TestAuth;
  let authz: TestAuthz;
  let example: Awaited<ReturnType<typeof startExampleUpstream>>;
  let envoy: TestEnvoy;
  let tlsPort: number;
  let ca: string;

  beforeAll(async () => {
    const cert = ensureLocalCertificate(dir);
    ca = readFileSync(cert.caFile, "utf8");
    auth = await startTestAuth();
    [authz, example] = await Promise.all([startTestAuthz(auth, { SIGNIN_URL: "https://127.0.0.1/signin" }), startExampleUpstream("127.0.0.1", 0)]);
    tlsPort = await findFreePort();
    envoy = await startTestEnvoy(
      { auth: [endpointOf(auth.server.url)], authz: [authz.server.endpoints], example: endpointOf(example.url) },
      { tls: { listen: { host: "127.0.0.1", port: tlsPort }, certFile: cert.certFile, keyFile: cert.keyFile } },
    );
  });
  afterAll(async () => {
    for (const close of [() => envoy?.stop(), () => authz?.close(), () => example?.close(), () => auth?.close()]) await close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers over HTTPS with a certificate that chains to the generated CA, for 127.0.0.1 and localhost, with HSTS", async () => {
    const viaIp = await httpsGet(`https://127.0.0.1:${tlsPort}/.well-known/jwks.json`, { ca });
    expect(viaIp.status).toBe(200);
    expect(JSON.parse(viaIp.body).keys.length).toBeGreaterThan(0);
    expect(viaIp.peerIssuer).toBe("auth-platform local CA");
    expect(viaIp.headers["strict-transport-security"]).toBe("max-age=31536000");
    const viaName = await httpsGet(`https://localhost:${tlsPort}/.well-known/jwks.json`, { ca });
    expect(viaName.status).toBe(200);
    // Without the CA, Node refuses the chain: the trust comes from the CA, nothing else.
    await expect(httpsGet(`https://127.0.0.1:${tlsPort}/.well-known/jwks.json`)).rejects.toMatchObject({ code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
  });

  it("keeps the Check, and HSTS, on HTTPS answers Envoy makes itself", async () => {
    const denied = await httpsGet(`https://127.0.0.1:${tlsPort}/example/`, { ca });
    expect(denied.status).toBe(401);
    expect(denied.headers["x-auth-reason"]).toBeDefined();
    expect(denied.headers["strict-transport-security"]).toBe("max-age=31536000");
    const browser = await httpsGet(`https://127.0.0.1:${tlsPort}/example/`, { ca, headers: { accept: "text/html" } });
    expect(browser.status).toBe(302);
    expect(browser.headers.location).toBe("https://127.0.0.1/signin?return_to=%2Fexample%2F");
  });

  it("redirects browser navigation on plain HTTP to HTTPS, and leaves API clients there", async () => {
    const navigation = await fetch(`${envoy.url}/example/page?x=1`, { headers: { accept: "text/html,application/xhtml+xml" }, redirect: "manual" });
    expect(navigation.status).toBe(302);
    expect(navigation.headers.get("location")).toBe(`https://127.0.0.1:${tlsPort}/example/page?x=1`);
    expect(navigation.headers.get("strict-transport-security")).toBeNull();
    const head = await fetch(`${envoy.url}/signin`, { method: "HEAD", headers: { accept: "text/html" }, redirect: "manual" });
    expect(head.status).toBe(302);

    // curl, SDKs and form posts: no redirect, no HSTS over plain HTTP.
    const api = await fetch(`${envoy.url}/.well-known/jwks.json`, { redirect: "manual" });
    expect(api.status).toBe(200);
    expect(api.headers.get("strict-transport-security")).toBeNull();
    const post = await fetch(`${envoy.url}/signin`, { method: "POST", headers: { accept: "text/html" }, redirect: "manual" });
    expect(post.status).not.toBe(302);
    // A client claiming it came over HTTPS does not talk Envoy out of the redirect.
    const claimed = await fetch(`${envoy.url}/example/`, { headers: { accept: "text/html", "x-forwarded-proto": "https" }, redirect: "manual" });
    expect(claimed.headers.get("location")).toBe(`https://127.0.0.1:${tlsPort}/example/`);
  });

  it("carries gRPC over TLS (ALPN h2) to the auth service", async () => {
    const client = createClient(AuthService, createGrpcTransport({ baseUrl: `https://127.0.0.1:${tlsPort}`, nodeOptions: { ca } }));
    const code = await client.signIn({ email: "nobody@example.com", password: "not the password at all" }).then(
      () => Code.Unknown,
      (e: unknown) => ConnectError.from(e).code,
    );
    expect(code).toBe(Code.Unauthenticated);
  });
});
