import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Stands for "a service behind the gateway": it trusts the gateway for
 * identity and echoes the identity headers it received, so tests and
 * operators can see exactly what an upstream is told.
 */
export async function startExampleUpstream(host: string, port: number): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value.join(",") : (value ?? null);
    };
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"status":"ok"}');
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(
      JSON.stringify({
        service: "example",
        method: req.method,
        path: req.url,
        identity: { userId: header("x-user-id"), sessionId: header("x-session-id"), authLevel: header("x-auth-level") },
        // An OAuth access token's delegation: an upstream authorizes such a call by its scopes.
        oauth: header("x-oauth-client-id") === null ? null : { clientId: header("x-oauth-client-id"), audience: header("x-oauth-audience"), scope: header("x-oauth-scope") },
        requestId: header("x-request-id"),
      }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${actual}`,
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
