import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startExampleUpstream } from "../../../src/example/upstream.js";
import { startGateway, type RunningGateway } from "../../../src/stack/gateway.js";
import { findFreePort } from "../../../src/stack/ports.js";
import { endpointOf } from "../../../src/stack/render-config.js";
import { spkiHash } from "../../../src/stack/tls.js";
import { type TestAuth, startTestAuth } from "../../support/auth.js";
import { type TestAuthz, startTestAuthz } from "../../support/authz.js";
import { envoyBinary } from "../../support/envoy-binary.js";
import { freshDomain, startTestRateLimit, type TestRateLimit } from "../../support/ratelimit.js";

const status = (url: string, ca: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; hsts?: string }>((resolve, reject) =>
    https
      .get(url, { ca, headers, agent: false }, (r) => {
        r.resume();
        r.on("end", () => resolve({ status: r.statusCode ?? 0, hsts: r.headers["strict-transport-security"] as string | undefined }));
      })
      .on("error", reject),
  );

const REPO_ROOT = path.resolve(import.meta.dirname, "../../..");

/** The launcher's own path (src/stack/gateway.ts): Envoy found on PATH, the local CA, the rate limit service. */
describe("the launcher's Envoy gateway with HTTPS and rate limits", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "edge-launcher-"));
  const domain = freshDomain();
  const savedPath = process.env.PATH;
  let auth: TestAuth;
  let authz: TestAuthz;
  let rls: TestRateLimit;
  let example: Awaited<ReturnType<typeof startExampleUpstream>>;
  let gateway: RunningGateway;

  beforeAll(async () => {
    // As root the gateway runs as the stack's unprivileged user, which must reach its files through here.
    chmodSync(dir, 0o755);
    auth = await startTestAuth();
    [authz, example, rls] = await Promise.all([
      startTestAuthz(auth),
      startExampleUpstream("127.0.0.1", 0),
      startTestRateLimit({ RATE_LIMIT_DOMAIN: domain, RATE_LIMIT_GATEWAY_RULES: "signin-page:ip=2/1m" }),
    ]);
    // Only for this call: other files in this worker keep their nginx gateway.
    process.env.PATH = `${path.dirname(envoyBinary())}:${savedPath}`;
    try {
      gateway = await startGateway({
        dir,
        listen: { host: "127.0.0.1", port: 0 },
        auth: [endpointOf(auth.server.url)],
        authz: [authz.server.endpoints],
        example: endpointOf(example.url),
        ratelimit: [rls.server.endpoint],
        rateLimitDomain: domain,
        tls: { port: await findFreePort() },
      });
    } finally {
      process.env.PATH = savedPath;
    }
  });
  afterAll(async () => {
    for (const close of [() => gateway?.stop(), () => rls?.close(), () => authz?.close(), () => example?.close(), () => auth?.close()]) await close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves HTTPS with the CA it generated in the state dir, and asks its rate limit service", async () => {
    expect(gateway.proxy).toBe("envoy");
    expect(gateway.tls?.caFile).toBe(path.join(dir, "tls", "ca.crt"));
    const ca = readFileSync(gateway.tls?.caFile ?? "", "utf8");
    expect(await status(`${gateway.tls?.url}/.well-known/jwks.json`, ca)).toEqual({ status: 200, hsts: "max-age=31536000" });
    const browser = await fetch(`${gateway.url}/example/`, { headers: { accept: "text/html" }, redirect: "manual" });
    expect(browser.headers.get("location")).toBe(`${gateway.tls?.url}/example/`);

    const rendered = JSON.parse(readFileSync(path.join(dir, "gateway", "envoy.json"), "utf8"));
    const filters = rendered.static_resources.listeners.map((l: any) => l.filter_chains[0].filters[0].typed_config.http_filters.find((f: any) => f.name === "envoy.filters.http.ratelimit").typed_config.domain);
    expect(filters).toEqual([domain, domain]);
    const cluster = rendered.static_resources.clusters.find((c: { name: string }) => c.name === "ratelimit");
    expect(cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value).toBe(rls.server.endpoint.port);
  });

  it("refuses an HTTPS port someone else holds, naming the variable", async () => {
    process.env.PATH = `${path.dirname(envoyBinary())}:${savedPath}`;
    try {
      const taken = new URL(gateway.tls?.url ?? "").port;
      await expect(
        startGateway({ dir, listen: { host: "127.0.0.1", port: 0 }, auth: [endpointOf(auth.server.url)], authz: [authz.server.endpoints], example: endpointOf(example.url), tls: { port: Number(taken) } }),
      ).rejects.toThrow(`gateway HTTPS port 127.0.0.1:${taken} is already in use (set GATEWAY_TLS_PORT)`);
    } finally {
      process.env.PATH = savedPath;
    }
  });

  it("runs the README's HTTPS block as written", async () => {
    const text = readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
    const start = text.indexOf("```sh\ncurl -s --cacert .stack/tls/ca.crt");
    const end = text.indexOf("```", start + 5);
    expect(start).toBeGreaterThan(0);
    const script = text
      .slice(start + "```sh\n".length, end)
      .replaceAll(".stack/tls/", `${path.join(dir, "tls")}/`)
      .replaceAll("https://127.0.0.1:8443", gateway.tls?.url ?? "");
    // Asynchronously: the auth service answering curl lives in this very process.
    const run = await promisify(execFile)("bash", ["-euo", "pipefail", "-c", `${script}\necho\necho "SPKI=$SPKI"`], { encoding: "utf8", timeout: 30_000 });
    const [keys = "", spki = ""] = run.stdout.trim().split("\n");
    expect(JSON.parse(keys).keys.length).toBeGreaterThan(0);
    expect(spki).toBe(`SPKI=${spkiHash(path.join(dir, "tls", "server.crt"))}`);
  });

  it("runs Envoy as the unprivileged stack user when started as root, with the server key its own and the CA key not", async () => {
    const user = execFileSync("ps", ["-o", "user=", "-p", String(gateway.pid)], { encoding: "utf8" }).trim();
    const key = statSync(path.join(dir, "tls", "server.key"));
    const caKey = statSync(path.join(dir, "tls", "ca.key"));
    expect(key.mode & 0o077).toBe(0);
    expect(caKey.mode & 0o077).toBe(0);
    if (process.getuid?.() === 0) {
      expect(user).toBe("authstack");
      expect(key.uid).toBe(Number(execFileSync("id", ["-u", "authstack"], { encoding: "utf8" })));
      expect(caKey.uid).toBe(0);
    } else {
      expect(user).toBe(execFileSync("id", ["-un"], { encoding: "utf8" }).trim());
    }
  });
});
