import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestAuth, type TestAuth } from "../../support/auth.js";

/** Resolves with how long the server took to close the socket, or Infinity if it was still open after `withinMs`. */
function closedWithin(socket: net.Socket, withinMs: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(Infinity), withinMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

const connect = (port: number) =>
  new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => resolve(socket));
    socket.on("error", () => {});
    socket.once("error", reject);
  });

/** A slowloris client: a request line, then one header byte at a time, never the blank line that ends them. */
async function slowloris(port: number): Promise<{ socket: net.Socket; stop(): void }> {
  const socket = await connect(port);
  socket.write("GET /healthz HTTP/1.1\r\nHost: auth.test\r\nX-Slow: ");
  const timer = setInterval(() => socket.writable && socket.write("a"), 200);
  socket.once("close", () => clearInterval(timer));
  return { socket, stop: () => (clearInterval(timer), socket.destroy()) };
}

describe("the auth port's timeouts and connection cap", () => {
  let auth: TestAuth;
  beforeAll(async () => {
    auth = await startTestAuth({ HTTP_HEADERS_TIMEOUT: "1s", HTTP_REQUEST_TIMEOUT: "2s", MAX_CONNECTIONS: "40" });
  });
  afterAll(async () => {
    await auth?.close();
  });

  it("cuts off slowloris clients at the headers timeout while normal requests keep working", async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => slowloris(auth.server.port)));
    try {
      const closing = clients.map((c) => closedWithin(c.socket, 8000));
      // Normal traffic during the attack: answered as usual.
      for (let i = 0; i < 5; i++) expect((await fetch(`${auth.server.url}/healthz`)).status).toBe(200);
      const cutAfter = await Promise.all(closing);
      // Headers timeout 1 s, checked every second: cut within a few seconds, never left open.
      expect(Math.max(...cutAfter)).toBeLessThan(8000);
      expect((await fetch(`${auth.server.url}/healthz`)).status).toBe(200);
    } finally {
      for (const c of clients) c.stop();
    }
  });

  it("closes connections beyond MAX_CONNECTIONS on arrival, and serves again once they are gone", async () => {
    const held = await Promise.all(Array.from({ length: 40 }, () => connect(auth.server.port)));
    try {
      await sleep(100);
      const extra = await connect(auth.server.port);
      expect(await closedWithin(extra, 2000)).toBeLessThan(2000);
    } finally {
      for (const socket of held) socket.destroy();
    }
    await sleep(100);
    expect((await fetch(`${auth.server.url}/healthz`)).status).toBe(200);
  });
});
