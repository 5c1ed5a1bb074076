import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAuthServer, type AuthServer } from "../../../src/auth/app.js";
import { loadAuthConfig } from "../../../src/auth/config.js";
import { createLogger } from "../../../src/platform/log.js";
import { GOOD_PASSWORD, testEnv, uniqueEmail } from "../../support/auth.js";

describe("observability: request ids in logs and answers, Prometheus metrics", () => {
  let server: AuthServer;
  const lines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line));
        done();
      },
    });
    server = await startAuthServer(loadAuthConfig(testEnv()), { log: createLogger("info", "auth", sink) });
  });
  afterAll(async () => {
    await server?.close();
  });

  const post = (rpc: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/auth.v1.AuthService/${rpc}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

  it("carries Envoy's x-request-id into the JSON log line and back to the caller, and redacts secrets", async () => {
    const email = uniqueEmail("obs");
    const res = await post("SignUp", { email, password: GOOD_PASSWORD }, { "x-request-id": "req-0f3c-42" });
    expect(res.headers.get("x-request-id")).toBe("req-0f3c-42");
    const failed = await post("SignIn", { email, password: "wrong passphrase here" }, { "x-request-id": "req-0f3c-43" });
    expect(failed.headers.get("x-request-id")).toBe("req-0f3c-43");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(lines).toContainEqual(expect.objectContaining({ rpc: "SignUp", requestId: "req-0f3c-42", code: "ok", service: "auth" }));
    expect(lines).toContainEqual(expect.objectContaining({ rpc: "SignIn", requestId: "req-0f3c-43", code: "Unauthenticated" }));
    const text = JSON.stringify(lines);
    expect(text).not.toContain(GOOD_PASSWORD);
    expect(text).not.toContain("wrong passphrase here");
  });

  it("replaces a hostile request id rather than logging it", async () => {
    const res = await post("SignIn", { email: "x@example.com", password: "whatever it is" }, { "x-request-id": "evil\u00e9 id; DROP" });
    const id = res.headers.get("x-request-id") ?? "";
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("exports RPC counts by method and code, and latency histograms, at /metrics", async () => {
    const email = uniqueEmail("obs");
    await post("SignUp", { email, password: GOOD_PASSWORD });
    await post("SignIn", { email, password: GOOD_PASSWORD });
    await post("SignIn", { email, password: "not the right one" });
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/auth_rpc_total\{method="SignIn",code="ok"\} [1-9]/);
    expect(text).toMatch(/auth_rpc_total\{method="SignIn",code="Unauthenticated"\} [1-9]/);
    expect(text).toMatch(/auth_rpc_duration_seconds_bucket\{le="0.05",method="SignIn"\}/);
    expect(text).toContain("process_cpu_user_seconds_total");
  });
});
