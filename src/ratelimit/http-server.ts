import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../platform/log.js";
import type { RateLimitMetrics } from "./metrics.js";

export interface RateLimitHttpDeps {
  metrics: RateLimitMetrics;
  serving(): Promise<boolean>;
  log: Logger;
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { "content-type": contentType, "cache-control": "no-store" });
  res.end(body);
}

/** /metrics (Prometheus), /healthz (process up), /readyz (Redis reachable: 200 or 503). */
export async function startRateLimitHttpServer(deps: RateLimitHttpDeps, host: string, port: number): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://ratelimit").pathname;
    const answer = async () => {
      if (req.method !== "GET") return send(res, 405, "application/json", JSON.stringify({ code: "method_not_allowed" }));
      if (path === "/metrics") return send(res, 200, deps.metrics.registry.contentType, await deps.metrics.registry.metrics());
      if (path === "/healthz") return send(res, 200, "application/json", JSON.stringify({ status: "ok" }));
      if (path === "/readyz") {
        const ready = await deps.serving().catch(() => false);
        return send(res, ready ? 200 : 503, "application/json", JSON.stringify({ status: ready ? "ready" : "not ready" }));
      }
      return send(res, 404, "application/json", JSON.stringify({ code: "not_found" }));
    };
    answer().catch((error: unknown) => {
      deps.log.error({ err: error, path: path.slice(0, 200) }, "http request failed");
      if (!res.headersSent) send(res, 500, "application/json", JSON.stringify({ code: "internal" }));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  deps.log.info({ host, port: actual }, "rate limit HTTP (metrics, health) listening");
  return {
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
