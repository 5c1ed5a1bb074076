import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { afterAll, describe, expect, it } from "vitest";
import { AuthService } from "../../../src/gen/auth/v1/auth_pb.js";
import { findFreePort } from "../../../src/stack/ports.js";
import { connectTransport, GOOD_PASSWORD, grpcTransport, startTestAuth, testEnv, uniqueEmail } from "../../support/auth.js";
import { eventually } from "../../support/eventually.js";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));

/** Sends a request's headers and the first half of its body; `finish` sends the rest and resolves with the raw answer. */
async function halfSentSignIn(port: number, body: string) {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  let answer = "";
  socket.on("data", (chunk: Buffer) => (answer += chunk.toString()));
  const ended = new Promise<string>((resolve) => socket.once("close", () => resolve(answer)));
  socket.write(`POST /auth.v1.AuthService/SignIn HTTP/1.1\r\nHost: auth.test\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`);
  const half = Math.floor(body.length / 2);
  socket.write(body.slice(0, half));
  return {
    finish: () => {
      socket.write(body.slice(half));
      return ended;
    },
  };
}

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(false)));
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED"));
  });

describe("SIGTERM to an auth process drains it", () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });

  it("finishes every request in flight (HTTP/1.1 and HTTP/2, a body still arriving included), then refuses new connections", async () => {
    const port = await findFreePort();
    child = spawn(process.execPath, ["--import", "tsx", "src/main-auth.ts"], {
      cwd: REPO,
      env: { ...process.env, ...testEnv({ AUTH_PORT: String(port), SHUTDOWN_GRACE: "10s", LOG_LEVEL: "warn" }) },
      stdio: ["ignore", "ignore", "inherit"],
    });
    const exited = new Promise<number | null>((resolve) => child!.once("exit", (code) => resolve(code)));
    const url = `http://127.0.0.1:${port}`;
    await eventually(async () => (await fetch(`${url}/healthz`)).ok, 30_000, "auth process serving");

    const email = uniqueEmail("drain");
    const h1 = createClient(AuthService, connectTransport(url));
    const h2 = createClient(AuthService, grpcTransport(url));
    await h1.signUp({ email, password: GOOD_PASSWORD });
    // Connections open before the burst, so each request below reaches the server at once: a stream
    // sent after the GOAWAY is refused (REFUSED_STREAM, safe to retry), and one still in the accept
    // backlog at close is reset; neither was in flight.
    await Promise.all([h1.signIn({ email, password: GOOD_PASSWORD }), h2.signIn({ email, password: GOOD_PASSWORD })]);
    // Argon2 makes each sign-in cost real time: on two cores, these are still running at SIGTERM.
    const signIns = [
      ...Array.from({ length: 4 }, () => h1.signIn({ email, password: GOOD_PASSWORD })),
      ...Array.from({ length: 12 }, () => h2.signIn({ email, password: GOOD_PASSWORD })),
    ].map((call, i) => call.then((res) => (res.accessToken ? "ok" : "no token"), (error: Error) => `${i}: ${error.message}`));
    const slowBody = await halfSentSignIn(port, JSON.stringify({ email, password: GOOD_PASSWORD }));
    await new Promise((resolve) => setTimeout(resolve, 300));

    child.kill("SIGTERM");
    await eventually(async () => refused(port), 5000, "new connections refused while draining");
    const raw = await slowBody.finish();

    const outcomes = await Promise.all(signIns);
    expect(outcomes.filter((o) => o !== "ok")).toEqual([]);
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw.toLowerCase()).toContain("connection: close");
    expect(await exited).toBe(0);
    expect(await refused(port)).toBe(true);
  });
});

describe("SHUTDOWN_DELAY", () => {
  it("keeps serving new connections, while answering not-ready, for the delay; then closes the listener", async () => {
    const auth = await startTestAuth({ SHUTDOWN_DELAY: "1500ms", SHUTDOWN_GRACE: "2s" });
    const started = performance.now();
    const closed = auth.close();
    try {
      expect((await fetch(`${auth.server.url}/readyz`)).status).toBe(503);
      // A load balancer that has not polled readiness yet still sends here: answered, not refused.
      expect(await refused(auth.server.port)).toBe(false);
      expect((await fetch(`${auth.server.url}/healthz`, { headers: { connection: "close" } })).status).toBe(200);
      expect(performance.now() - started).toBeLessThan(1500);
    } finally {
      await closed;
    }
    expect(performance.now() - started).toBeGreaterThanOrEqual(1500);
    expect(await refused(auth.server.port)).toBe(true);
  });
});
