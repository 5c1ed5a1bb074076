import net from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newUser, startTestAuth, type TestAuth } from "../../support/auth.js";
import { startTestAuthz } from "../../support/authz.js";
import { startPrivateRedis } from "../../support/data-tier.js";

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(false)));
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED"));
  });

describe("closing an authz server drains both ports", () => {
  let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
  let auth: TestAuth;
  beforeAll(async () => {
    redis = await startPrivateRedis();
    auth = await startTestAuth({ REDIS_URL: redis.url });
  });
  afterAll(async () => {
    await auth?.close();
    await redis?.kill();
  });

  it("answers every Check and forward-auth request in flight, with Connection: close, then refuses connections", async () => {
    // A paused Redis, read on every Check (no cache), keeps the requests in flight when the close begins.
    const authz = await startTestAuthz(auth, { REDIS_URL: redis.url, AUTHZ_REDIS_TIMEOUT: "3s", AUTHZ_CACHE_TTL: "1ms", SHUTDOWN_GRACE: "10s" });
    const { tokens } = await newUser(auth.client);
    const headers = { authorization: `Bearer ${tokens.accessToken}` };
    expect((await authz.check({ headers })).status.code).toBe(0);
    const { grpc, http } = authz.server.endpoints;
    // Ten keep-alive connections open before the burst, so each forward-auth request below reaches the
    // server at once: a connection still in the accept backlog at close is reset, and was never in flight.
    await Promise.all(Array.from({ length: 10 }, () => authz.forward("/example/warm", headers).then((r) => r.arrayBuffer())));

    const admin = new Redis(redis.url);
    await admin.call("CLIENT", "PAUSE", "800", "ALL");
    admin.disconnect();
    const checks = Array.from({ length: 10 }, (_, i) => authz.check({ headers, path: `/example/${i}` }).then((r) => r.status.code, (e: Error) => e.message));
    const forwards = Array.from({ length: 10 }, (_, i) =>
      authz.forward(`/example/f${i}`, headers).then((r) => `${r.status} ${r.headers.get("connection")}`, (e: Error) => e.message),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const closing = authz.close();

    expect(await Promise.all(checks)).toEqual(Array(10).fill(0));
    expect(await Promise.all(forwards)).toEqual(Array(10).fill("200 close"));
    await closing;
    expect(await refused(grpc.port)).toBe(true);
    expect(await refused(http.port)).toBe(true);
  });
});
