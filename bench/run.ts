import { randomBytes, randomUUID } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { startAuthServer } from "../src/auth/app.js";
import { startAuthzServer } from "../src/authz/app.js";
import { loadAuthzConfig } from "../src/authz/config.js";
import { startExampleUpstream } from "../src/example/upstream.js";
import { AuthService } from "../src/gen/auth/v1/auth_pb.js";
import { loadAuthConfig } from "../src/auth/config.js";
import { createLogger } from "../src/platform/log.js";
import { startGateway } from "../src/stack/gateway.js";
import { findFreePort } from "../src/stack/ports.js";
import { startStack } from "../src/stack/stack.js";
import { endpointOf } from "../src/stack/render-config.js";
import { gatewayLoad } from "./gateway-load.js";

/**
 * Side-by-side timings on one machine in one run. Pairs are interleaved so
 * that noise from a shared machine hits both sides alike; what matters is
 * the ratio, not the absolute numbers.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);
const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 5);
const LOAD_ROUNDS = Number(process.env.BENCH_LOAD_ROUNDS ?? 2);

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return { p50: at(0.5), p90: at(0.9) };
}

/** Milliseconds, and the gRPC code name of the answer ("ok" or the error), so a row never hides what it timed. */
async function time(fn: () => Promise<unknown>, outcomes: Map<string, number>): Promise<number> {
  const start = performance.now();
  const outcome = await fn().then(
    () => "ok",
    (error: unknown) => Code[ConnectError.from(error).code],
  );
  const elapsed = performance.now() - start;
  outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  return elapsed;
}

const describe = (outcomes: Map<string, number>) => [...outcomes].map(([k, n]) => `${k}×${n}`).join(" ");

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "auth-bench-"));
  // As root the data tier and the gateway run as an unprivileged user that must reach their state here.
  chmodSync(dir, 0o755);
  const stack = await startStack({ dir, replicas: 0 });
  try {
    const config = loadAuthConfig({
      DATABASE_URL: stack.databaseUrl,
      DATABASE_PRIMARY_URL: stack.primaryUrl,
      REDIS_URL: stack.redisUrl,
      SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      AUTH_PORT: "0",
      LOG_LEVEL: "silent",
      // The bench times the work of each answer; limits and lockout would time their refusals instead.
      RATE_LIMIT_SIGNIN_IP: "1000000/1m",
      RATE_LIMIT_SIGNUP_IP: "1000000/1m",
      RATE_LIMIT_MAIL_IP: "1000000/1m",
      RATE_LIMIT_MAIL_ACCOUNT: "1000000/1m",
      LOCKOUT_THRESHOLD: "1000",
    });
    const server = await startAuthServer(config, { log: createLogger("silent") });
    const client = createClient(AuthService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
    const password = "correct horse battery staple";
    const known = `known-${randomUUID()}@example.com`;
    await client.signUp({ email: known, password });
    const { accessToken } = await client.signIn({ email: known, password });
    // Wrong passwords spread over accounts that each stay under LOCKOUT_HARD_CAP (100 in a row).
    const victims = await Promise.all(
      Array.from({ length: Math.ceil(ROUNDS / 90) }, async () => {
        const email = `victim-${randomUUID()}@example.com`;
        await client.signUp({ email, password });
        return email;
      }),
    );
    let wrongAttempts = 0;
    const nextVictim = () => victims[Math.floor(wrongAttempts++ / 90)] as string;

    // The request path: the example upstream directly, and through Envoy + the authz server.
    const authz = await startAuthzServer(
      loadAuthzConfig({ REDIS_URL: stack.redisUrl, AUTHZ_PORT: "0", AUTHZ_HTTP_PORT: "0", AUTHZ_JWKS_URL: `${server.url}/.well-known/jwks.json`, AUTH_ISSUER: config.shared.issuer, LOG_LEVEL: "silent" }),
      { log: createLogger("silent", "authz") },
    );
    const example = await startExampleUpstream("127.0.0.1", 0);
    const gateway = await startGateway({
      dir: path.join(dir, "gateway"),
      listen: { host: "127.0.0.1", port: await findFreePort() },
      auth: [endpointOf(server.url)],
      authz: [authz.endpoints],
      example: endpointOf(example.url),
      proxy: "envoy",
    });
    const bearerHeader = { authorization: `Bearer ${accessToken}` };
    const httpGet = (url: string) => async () => {
      const res = await fetch(url, { headers: bearerHeader });
      await res.arrayBuffer();
      if (!res.ok) throw new ConnectError(`HTTP ${res.status}`, Code.Unknown);
    };

    const pairs: Array<[string, () => Promise<unknown>, string, () => Promise<unknown>]> = [
      ["GET /example/ through gateway + authz", httpGet(`${gateway.url}/example/hello`), "GET /example/ direct", httpGet(`${example.url}/example/hello`)],
      ["SignIn wrong password", () => client.signIn({ email: nextVictim(), password: "wrong passphrase" }), "SignIn unknown email", () => client.signIn({ email: `nobody-${randomUUID()}@example.com`, password: "wrong passphrase" })],
      ["SignUp taken email", () => client.signUp({ email: known, password }), "SignUp new email", () => client.signUp({ email: `new-${randomUUID()}@example.com`, password })],
      [
        "RequestPasswordReset known email",
        () => client.requestPasswordReset({ email: known }),
        "RequestPasswordReset unknown email",
        () => client.requestPasswordReset({ email: `nobody-${randomUUID()}@example.com` }),
      ],
      [
        "forward-auth Check (cached)",
        async () => {
          const res = await fetch(`${authz.httpUrl}/auth/forward`, { headers: { ...bearerHeader, "x-original-uri": "/example/hello", "x-original-method": "GET" } });
          await res.arrayBuffer();
          if (res.status !== 200) throw new ConnectError(`HTTP ${res.status}`, Code.Unknown);
        },
        "authz /healthz (no decision)",
        httpGet(`${authz.httpUrl}/healthz`),
      ],
      ["GetMe (bearer, live session check)", () => client.getMe({}, { headers: bearerHeader }), "SignIn success (argon2id)", () => client.signIn({ email: known, password })],
    ];
    const rows: string[] = [];
    for (const [nameA, a, nameB, b] of pairs) {
      const sa: number[] = [];
      const sb: number[] = [];
      const oa = new Map<string, number>();
      const ob = new Map<string, number>();
      for (let i = 0; i < ROUNDS; i++) {
        sa.push(await time(a, oa));
        sb.push(await time(b, ob));
      }
      const ra = stats(sa);
      const rb = stats(sb);
      rows.push(
        `| ${nameA} (${describe(oa)}) | ${ra.p50.toFixed(1)} | ${ra.p90.toFixed(1)} | ${nameB} (${describe(ob)}) | ${rb.p50.toFixed(1)} | ${rb.p90.toFixed(1)} | ${(ra.p50 / rb.p50).toFixed(2)} |`,
      );
    }
    console.log(`rounds: ${ROUNDS}, node ${process.version}`);
    console.log("| A | p50 ms | p90 ms | B | p50 ms | p90 ms | A/B p50 |");
    console.log("| --- | --- | --- | --- | --- | --- | --- |");
    for (const row of rows) console.log(row);
    await gateway.stop();
    console.log("");
    const load = await gatewayLoad({
      dir: path.join(dir, "load"),
      auth: endpointOf(server.url),
      example: endpointOf(example.url),
      authzEnv: { REDIS_URL: stack.redisUrl!, AUTHZ_JWKS_URL: `${server.url}/.well-known/jwks.json`, AUTH_ISSUER: config.shared.issuer, LOG_LEVEL: "silent" },
      bearer: accessToken,
      seconds: LOAD_SECONDS,
      rounds: LOAD_ROUNDS,
    });
    for (const row of load) console.log(row);
    await example.close();
    await authz.close();
    await server.close();
  } finally {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
