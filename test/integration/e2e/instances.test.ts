import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../../src/gen/auth/v1/auth_pb.js";
import { waitUntil } from "../../../src/stack/readiness.js";
import { GOOD_PASSWORD, bearer, connectTransport, grpcWebTransport, uniqueEmail } from "../../support/auth.js";
import { startInstanceTopology, userIdOf, type InstanceTopology } from "../../support/gateway.js";

const PROTO_DIR = fileURLToPath(new URL("../../../proto", import.meta.url));
// Envoy's health checks: every 1 s, unhealthy after 2 misses; with the check's timeout, 3 s bounds detection.
const DETECTION_WINDOW_MS = 3000;

type Callback<T> = (error: grpc.ServiceError | null, value?: T) => void;
type Unary = <T>(request: object, metadata: grpc.Metadata, callback: Callback<T>) => void;

const logLines = (file: string) =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

/** The topology `npm start` runs: two auth and two authz processes behind Envoy, killed like crashes. */
describe("Envoy in front of two auth and two authz processes", () => {
  let topo: InstanceTopology;

  beforeAll(async () => {
    topo = await startInstanceTopology({ auth: 2, authz: 2 });
  });
  afterAll(async () => {
    await topo?.close();
  });

  const newUser = async () => {
    const client = createClient(AuthService, connectTransport(topo.url));
    const email = uniqueEmail("inst");
    await client.signUp({ email, password: GOOD_PASSWORD });
    return { email, client, tokens: await client.signIn({ email, password: GOOD_PASSWORD }) };
  };

  it("serves a native @grpc/grpc-js stub over HTTP/2 and gRPC-Web through the gateway, Check included", async () => {
    const definition = protoLoader.loadSync(`${PROTO_DIR}/auth/v1/auth.proto`, { keepCase: true, defaults: true, includeDirs: [PROTO_DIR] });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { auth: { v1: { AuthService: grpc.ServiceClientConstructor } } };
    const stub = new pkg.auth.v1.AuthService(`127.0.0.1:${topo.gateway.port}`, grpc.credentials.createInsecure()) as unknown as Record<string, Unary> & grpc.Client;
    const call = <T>(method: string, request: object, metadata = new grpc.Metadata()) =>
      new Promise<T>((resolve, reject) => (stub[method] as Unary).call(stub, request, metadata, (error, value) => (error ? reject(error) : resolve(value as T))));
    try {
      const email = uniqueEmail("grpc");
      await call("SignUp", { email, password: GOOD_PASSWORD });
      const tokens = await call<{ access_token: string }>("SignIn", { email, password: GOOD_PASSWORD });
      const metadata = new grpc.Metadata();
      metadata.set("authorization", `Bearer ${tokens.access_token}`);
      expect((await call<{ user: { email: string } }>("GetMe", {}, metadata)).user.email).toBe(email);
      // Without a bearer the Check at the edge stops it: UNAUTHENTICATED, from Envoy rather than the service.
      const denied = (await call("GetMe", {}).catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
      expect(denied.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(denied.metadata.get("x-auth-reason")).toEqual(["missing_credential"]);
    } finally {
      stub.close();
    }

    const web = createClient(AuthService, grpcWebTransport(topo.url));
    const email = uniqueEmail("grpc-web");
    await web.signUp({ email, password: GOOD_PASSWORD });
    const { accessToken } = await web.signIn({ email, password: GOOD_PASSWORD });
    expect((await web.getMe({}, bearer(accessToken))).user?.email).toBe(email);
  });

  it("serves JWKS and the issuer metadata, one issuer for both auth instances", async () => {
    const jwks = await fetch(`${topo.url}/.well-known/jwks.json`);
    expect(jwks.status).toBe(200);
    expect(((await jwks.json()) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
    for (const auth of topo.auth) {
      const metadata = (await (await fetch(`${auth.url}/.well-known/oauth-authorization-server`)).json()) as { issuer: string };
      expect(metadata.issuer).toBe(topo.url);
    }
  });

  it("carries Envoy's x-request-id into the logs of auth, authz and the access log, which names the decision", async () => {
    const { tokens } = await newUser();
    const response = await fetch(`${topo.url}/auth.v1.AuthService/GetMe`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tokens.accessToken}` },
      body: "{}",
    });
    expect(response.status).toBe(200);
    const requestId = response.headers.get("x-request-id") ?? "";
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const denied = await fetch(`${topo.url}/example/`, { headers: { accept: "application/json" } });
    const deniedId = denied.headers.get("x-request-id") ?? "";

    const withId = (files: string[], id: string) => files.flatMap(logLines).filter((l) => JSON.stringify(l).includes(id));
    const authzLogs = topo.authz.map((a) => a.logFile);
    // Envoy writes its access log on a 1 s flush timer.
    await waitUntil(async () => withId(topo.gateway.logFiles, deniedId).length > 0 && withId(topo.gateway.logFiles, requestId).length > 0, {
      what: "access log lines for both requests",
      timeoutMs: 10_000,
    });
    const authLine = withId(topo.auth.map((a) => a.logFile), requestId);
    expect(authLine.map((l) => [l.rpc, l.requestId])).toEqual([["GetMe", requestId]]);
    expect(withId(authzLogs, requestId).map((l) => (l.request as { requestId: string }).requestId)).toEqual([requestId]);
    expect(withId(topo.gateway.logFiles, requestId)).toMatchObject([{ request_id: requestId, status: 200, authz_decision: "allow", auth_reason: "authenticated", user_id: userIdOf(tokens.accessToken) }]);

    expect(withId(authzLogs, deniedId)).toMatchObject([{ decision: "deny", reason: "missing_credential" }]);
    expect(withId(topo.gateway.logFiles, deniedId)).toMatchObject([{ status: 401, authz_decision: "deny", auth_reason: "missing_credential", flags: "UAEX" }]);
  });

  it("loses no request after the health-check window when one authz, then one auth instance is killed under load", async () => {
    const { tokens } = await newUser();
    const headers = { authorization: `Bearer ${tokens.accessToken}`, accept: "application/json" };
    // `at`: when the answer came, so a failure counts against the kill that caused it.
    const outcomes: Array<{ at: number; ok: boolean; what: string }> = [];
    const started = performance.now();
    const RUN_MS = 9000;
    // Enough to keep both instances of each busy; more would only measure this machine's overload.
    const CLIENTS = 4;
    const worker = async (n: number) => {
      for (let i = 0; performance.now() - started < RUN_MS; i++) {
        const viaAuth = (i + n) % 2 === 0;
        const send = viaAuth
          ? fetch(`${topo.url}/auth.v1.AuthService/GetMe`, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: "{}" })
          : fetch(`${topo.url}/example/`, { headers });
        const what = viaAuth ? "GetMe" : "example";
        try {
          const response = await send;
          const body = await response.text();
          const reason = response.status === 200 ? "" : ` ${response.headers.get("x-auth-reason") ?? body.slice(0, 80)}`;
          outcomes.push({ at: performance.now() - started, ok: response.status === 200, what: `${what} ${response.status}${reason}` });
        } catch (error) {
          outcomes.push({ at: performance.now() - started, ok: false, what: `${what} ${(error as Error).message}` });
        }
      }
    };
    const load = Promise.all(Array.from({ length: CLIENTS }, (_, n) => worker(n)));
    await sleep(1500);
    const authzKilledAt = performance.now() - started;
    await topo.procs.kill("authz-0");
    await sleep(3000);
    const authKilledAt = performance.now() - started;
    await topo.procs.kill("auth-1");
    await load;

    const failed = outcomes.filter((o) => !o.ok);
    const sinceAuthzKill = failed.filter((o) => o.at >= authzKilledAt && o.at < authKilledAt);
    const sinceAuthKill = failed.filter((o) => o.at >= authKilledAt);
    const lastAfter = (list: typeof failed, from: number) => (list.length === 0 ? "none" : `${(Math.max(...list.map((o) => o.at)) - from).toFixed(0)} ms`);
    console.log(
      `instance kill under load (${CLIENTS} clients, ${outcomes.length} requests in ${RUN_MS} ms): ` +
        `authz-0 killed: ${sinceAuthzKill.length} failed, last ${lastAfter(sinceAuthzKill, authzKilledAt)} after the kill; ` +
        `auth-1 killed: ${sinceAuthKill.length} failed, last ${lastAfter(sinceAuthKill, authKilledAt)} after the kill` +
        (failed.length > 0 ? ` (${[...new Set(failed.map((o) => o.what))].join(", ")})` : ""),
    );
    expect(failed.filter((o) => o.at < authzKilledAt).map((o) => o.what)).toEqual([]);
    expect(sinceAuthzKill.filter((o) => o.at > authzKilledAt + DETECTION_WINDOW_MS).map((o) => `${o.what} at +${(o.at - authzKilledAt).toFixed(0)} ms`)).toEqual([]);
    expect(sinceAuthKill.filter((o) => o.at > authKilledAt + DETECTION_WINDOW_MS).map((o) => `${o.what} at +${(o.at - authKilledAt).toFixed(0)} ms`)).toEqual([]);
    // Enough traffic after each window for "no failure" to mean something.
    expect(outcomes.filter((o) => o.at > authKilledAt + DETECTION_WINDOW_MS).length).toBeGreaterThan(50);

    const clusters = await (await fetch(`${topo.gateway.adminUrl}/clusters`)).text();
    const health = (endpoint: { host: string; port: number }, cluster: string) =>
      new RegExp(`^${cluster}::${endpoint.host}:${endpoint.port}::health_flags::(.*)$`, "m").exec(clusters)?.[1];
    expect(health(topo.authz[0]!.endpoints.grpc, "authz")).toMatch(/failed_active_hc/);
    expect(health(topo.authz[1]!.endpoints.grpc, "authz")).toBe("healthy");
    expect(health(topo.auth[1]!.endpoint, "auth")).toMatch(/failed_active_hc/);
  });

  it("with every authz instance gone, denies with 503 (fail closed), never passes; public routes still work", async () => {
    const { tokens } = await newUser();
    await topo.procs.kill("authz-0");
    await topo.procs.kill("authz-1");
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${topo.url}/example/`, { headers: { authorization: `Bearer ${tokens.accessToken}`, accept: "application/json" } });
      expect(response.status).toBe(503);
      expect(response.headers.get("x-auth-reason")).toBe("authz_unavailable");
    }
    expect((await fetch(`${topo.url}/signin`)).status).toBe(200);
  });
});
