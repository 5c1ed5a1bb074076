import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { awaitShutdownDelay, type ListenerLimits } from "../platform/listener-limits.js";
import type { Logger } from "../platform/log.js";
import type { Authorizer } from "./authorizer.js";
import { CALLER_SECRET_HEADER } from "./caller-secret.js";
import { AmbiguousForwardRequest, fromForwardAuthRequest } from "./forward-auth.js";
import type { AuthzMetrics } from "./metrics.js";

export interface HttpServerDeps {
  authorizer: Authorizer;
  metrics: AuthzMetrics;
  serving(): Promise<boolean>;
  log: Logger;
  /** True when the request's `x-authz-secret` header is AUTHZ_CHECK_SECRET (or none is configured). */
  callerAllowed(presented: string | undefined): boolean;
}

export interface HttpServer {
  port: number;
  /** Stops accepting, answers what is in flight with `Connection: close` within the grace, then cuts what is left. */
  close(): Promise<void>;
}

// Room for large cookies, bounded: Node answers 431 beyond it.
const MAX_HEADER_BYTES = 64 * 1024;

function send(res: ServerResponse, status: number, headers: Array<[string, string]>, body: string): void {
  res.statusCode = status;
  for (const [name, value] of headers) res.setHeader(name, value);
  if (!res.hasHeader("content-type")) res.setHeader("content-type", "application/json");
  res.setHeader("cache-control", "no-store");
  res.end(body);
}

/**
 * `/auth/forward` answers 200 with the identity headers or 401/403/503 with the reason. Browsers get
 * 401 plus `x-auth-redirect` (nginx auth_request passes only 2xx/401/403; its error_page redirects);
 * `?redirect=true` makes it a 302 for proxies that forward the answer as is (Traefik, Caddy).
 */
export async function startHttpServer(deps: HttpServerDeps, host: string, port: number, limits: ListenerLimits): Promise<HttpServer> {
  let draining = false;
  const inFlight = new Set<ServerResponse>();
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://authz");
    if (url.pathname === "/auth/forward") {
      const presented = req.headers[CALLER_SECRET_HEADER];
      if (!deps.callerAllowed(typeof presented === "string" ? presented : undefined)) {
        send(res, 403, [["x-auth-reason", "caller_not_authorized"]], JSON.stringify({ code: "caller_not_authorized" }));
        return;
      }
      let input;
      try {
        input = fromForwardAuthRequest(req);
      } catch (error) {
        if (!(error instanceof AmbiguousForwardRequest)) throw error;
        send(res, 400, [["x-auth-reason", "ambiguous_original_request"]], JSON.stringify({ code: "ambiguous_original_request", message: error.message }));
        return;
      }
      const { verdict } = await deps.authorizer.authorize(input, "http", url.searchParams.get("redirect") === "true");
      if (verdict.status === 200) send(res, 200, verdict.upstreamHeaders, "");
      else send(res, verdict.status, verdict.clientHeaders, verdict.body);
    } else if (req.method === "GET" && url.pathname === "/metrics") {
      send(res, 200, [["content-type", deps.metrics.registry.contentType]], await deps.metrics.registry.metrics());
    } else if (req.method === "GET" && url.pathname === "/healthz") {
      send(res, 200, [], JSON.stringify({ status: "ok" }));
    } else if (req.method === "GET" && url.pathname === "/readyz") {
      const ready = !draining && (await deps.serving().catch(() => false));
      send(res, ready ? 200 : 503, [], JSON.stringify({ status: ready ? "ready" : "not ready" }));
    } else {
      send(res, 404, [], JSON.stringify({ code: "not_found" }));
    }
  }

  const server = createServer(
    {
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: 1000,
    },
    (req, res) => {
      // Asked to go: this response is the connection's last.
      if (draining) res.setHeader("connection", "close");
      inFlight.add(res);
      res.on("close", () => inFlight.delete(res));
      handle(req, res).catch((error: unknown) => {
        deps.log.error({ err: error, path: req.url?.slice(0, 200) }, "http request failed");
        if (!res.headersSent) send(res, 500, [], JSON.stringify({ code: "internal" }));
        else res.destroy();
      });
    },
  );
  server.timeout = limits.idleTimeoutMs;
  server.maxConnections = limits.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  deps.log.info({ host, port: actual }, "authz HTTP (forward-auth, metrics, health) listening");
  return {
    port: actual,
    async close() {
      draining = true;
      await awaitShutdownDelay(limits);
      for (const res of inFlight) if (!res.headersSent) res.setHeader("connection", "close");
      // Stops accepting; the callback comes once the last connection is gone.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      let done = false;
      void closed.then(() => (done = true));
      const deadline = Date.now() + limits.shutdownGraceMs;
      // A keep-alive connection between requests holds no work: close each as it becomes idle.
      while (!done && Date.now() < deadline) {
        server.closeIdleConnections();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      server.closeAllConnections();
      await closed;
    },
  };
}
