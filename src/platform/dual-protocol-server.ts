import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { clientNetwork } from "./client-network.js";
import { awaitShutdownDelay, type ListenerLimits } from "./listener-limits.js";
import { isTrustedProxy } from "./request-context.js";
import { createResetBudget } from "./reset-budget.js";

type Handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;

export interface ListeningServer {
  port: number;
  /** True from the moment close() starts: readiness answers 503 and gRPC health NOT_SERVING. */
  draining(): boolean;
  /**
   * Drains: stops accepting, asks every client to go (HTTP/2 GOAWAY, `Connection: close` on HTTP/1
   * responses, idle keep-alive connections closed), lets requests in flight finish within
   * `shutdownGraceMs`, then cuts what is left.
   */
  close(): Promise<void>;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n");
// A connection that never sends a byte must not hold a socket for long.
const FIRST_BYTE_TIMEOUT_MS = 10_000;
// How often Node's HTTP/1 checker looks for requests past headersTimeout/requestTimeout.
const CHECK_INTERVAL_MS = 1000;
const RESET_WINDOW_MS = 10_000;
// A reset this soon after its stream arrived is premature: what rapid reset is made of.
const PREMATURE_RESET_MS = 1000;
const DRAIN_POLL_MS = 50;
const PRUNE_WAITING_AT = 128;

/**
 * At most `max` responses of one connection in progress; the rest start, in order, as those finish
 * or their clients go. A stream the client already reset is never started: no one awaits its answer,
 * and its 'close' has fired already, so it would hold its turn for good.
 *
 * Nothing starts in the tick its headers arrived: nghttp2 reads a whole packet's frames before the
 * loop turns, so a reset sent right behind its headers (rapid reset) has closed the stream by the
 * time it would start, and no handler runs for it. Started at once, every such stream whose request
 * had all arrived was answered in full before its reset was read.
 */
function createTurns(max: number) {
  let active = 0;
  let scheduled = false;
  let waiting: Array<{ res: http2.Http2ServerResponse; start: () => void }> = [];
  let pruneAt = PRUNE_WAITING_AT;
  const next = () => {
    scheduled = false;
    while (active < max && waiting.length > 0) {
      const turn = waiting.shift()!;
      run(turn.res, turn.start);
    }
  };
  // Also when a turn frees: run then and there, it would start streams queued in this very tick.
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(next);
  };
  const run = (res: http2.Http2ServerResponse, start: () => void) => {
    if (res.stream.closed) return;
    active += 1;
    res.stream.once("close", () => {
      active -= 1;
      schedule();
    });
    start();
  };
  return {
    take(res: http2.Http2ServerResponse, start: () => void) {
      // While every turn is held (slow bodies hold theirs up to HTTP_REQUEST_TIMEOUT), streams reset
      // meanwhile would pile up here until dequeued.
      if (waiting.length >= pruneAt) {
        waiting = waiting.filter((turn) => !turn.res.stream.closed);
        pruneAt = Math.max(PRUNE_WAITING_AT, waiting.length * 2);
      }
      waiting.push({ res, start });
      schedule();
    },
  };
}

/**
 * HTTP/1's requestTimeout for one HTTP/2 stream: a request whose body has not all arrived this long
 * after its turn began is reset, so a slow body holds its turn for as long as HTTP_REQUEST_TIMEOUT,
 * not until the connection goes idle. Counted from the turn, not the arrival: waiting for a turn is
 * the server's doing, and an unread body cannot finish arriving.
 */
function bodyWithin(req: http2.Http2ServerRequest, ms: number, cutByUs: WeakSet<http2.ServerHttp2Stream>): void {
  const stream = req.stream;
  // A request without a body (END_STREAM on its headers) has all arrived already.
  if (stream.endAfterHeaders) return;
  const timer = setTimeout(() => {
    if (stream.closed) return;
    // Not the client's reset: a slow body is the request timeout's business, not the reset budget's.
    cutByUs.add(stream);
    stream.close(http2.constants.NGHTTP2_CANCEL);
  }, ms);
  const done = () => clearTimeout(timer);
  req.once("end", done);
  stream.once("close", done);
}

/**
 * One plaintext port for HTTP/1.1 (Connect JSON, gRPC-Web, curl, browsers)
 * and h2c with prior knowledge (gRPC clients). Node cannot negotiate both
 * without TLS, so the first bytes of each connection pick the server.
 *
 * The per-connection HTTP/2 guards (active-stream turns, the reset cap) hold one client to its own
 * connection. A trusted proxy's connection carries many clients' streams, so those guards would let
 * one client stall or close it for all of them: the proxy's own per-client limits hold there (Envoy
 * closes a downstream connection with too many premature resets), and DB_MAX_QUEUED sheds the rest.
 */
export async function listenDualProtocol(
  handler: Handler,
  host: string,
  port: number,
  limits: ListenerLimits,
  trustedProxies: readonly string[] = [],
): Promise<ListeningServer> {
  let draining = false;
  const inFlight = new Set<http.ServerResponse>();

  const h1 = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: CHECK_INTERVAL_MS,
    },
    (req, res) => {
      // Asked to go: this response is the connection's last.
      if (draining) res.setHeader("connection", "close");
      inFlight.add(res);
      res.on("close", () => inFlight.delete(res));
      handler(req, res);
    },
  );
  h1.timeout = limits.idleTimeoutMs;
  // Node starts its headersTimeout/requestTimeout checker when a server emits 'listening'. This one
  // never listens (the sockets come from the port below), so without this no request ever timed out.
  h1.emit("listening");

  // Streams of one connection being worked on at once; the others wait their turn on that connection,
  // so one client's flood queues behind itself instead of in front of everyone at the database pool.
  const turns = new WeakMap<http2.Http2Session, ReturnType<typeof createTurns>>();
  // Decided once per connection, from its socket peer, when the session starts.
  const proxied = new WeakSet<http2.Http2Session>();
  const h2 = http2.createServer({ maxSessionMemory: 10, settings: { maxConcurrentStreams: limits.maxConcurrentStreams } }, (req, res) => {
    const session = req.stream.session;
    if (!session) return;
    if (proxied.has(session)) {
      handler(req, res);
      return;
    }
    let queue = turns.get(session);
    if (!queue) turns.set(session, (queue = createTurns(limits.maxActiveStreams)));
    queue.take(res, () => {
      bodyWithin(req, limits.requestTimeoutMs, cutByUs);
      handler(req, res);
    });
  });
  h2.setTimeout(limits.idleTimeoutMs);
  const sessions = new Set<http2.Http2Session>();
  const resets = createResetBudget(limits.maxResetsPer10s, RESET_WINDOW_MS);
  const cutByUs = new WeakSet<http2.ServerHttp2Stream>();
  const sessionsOf = new Map<string, Set<http2.Http2Session>>();
  const calm = (session: http2.Http2Session) => {
    // With an error: destroy(undefined, code) sends NO_ERROR, the first argument defaulting to it.
    if (!session.destroyed) session.destroy(new Error("too many stream resets"), http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  };
  h2.on("session", (session: http2.Http2Session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    if (draining) session.close();
    if (isTrustedProxy(session.socket?.remoteAddress ?? "", trustedProxies)) {
      proxied.add(session);
      return;
    }
    const client = clientNetwork(session.socket?.remoteAddress ?? "");
    const own = sessionsOf.get(client) ?? new Set<http2.Http2Session>();
    sessionsOf.set(client, own);
    own.add(session);
    session.once("close", () => {
      own.delete(session);
      if (own.size === 0 && sessionsOf.get(client) === own) sessionsOf.delete(client);
    });
    const counted = new WeakSet<http2.ServerHttp2Stream>();
    const countReset = (stream: http2.ServerHttp2Stream) => {
      if (counted.has(stream) || cutByUs.has(stream)) return;
      counted.add(stream);
      // Every connection of the client goes: each left open could send one more packet of thousands
      // of HEADERS and RST_STREAM frames, parsed (a connection's first, whole) before we count them.
      if (resets.reset(client)) for (const each of [...own]) calm(each);
    };
    // Streams cut because the connection went are not resets: a client that drops a connection with
    // streams open has not reset them.
    const countLive = (stream: http2.ServerHttp2Stream, born: number) => {
      if (!session.destroyed && Date.now() - born < PREMATURE_RESET_MS) countReset(stream);
    };
    session.on("stream", (stream: http2.ServerHttp2Stream) => {
      // Only premature resets count (as Envoy's overload.premature_reset_min_stream_lifetime): a call
      // cancelled after a second has held a turn like any request, while the attack resets at once.
      const born = Date.now();
      // The streams of a connection's first packet reach this event already closed (Node feeds that
      // packet a tick after the session starts), their resets read with them, whatever their code;
      // nghttp2 may have ended the session over them since: each is counted all the same.
      if (stream.closed) return countReset(stream);
      // The peer closed it before we finished answering, with any code (NO_ERROR included); Node
      // emits it as nghttp2 reads the RST_STREAM, in the middle of a packet of them.
      stream.once("aborted", () => countLive(stream, born));
      // Answered, then reset with an error before the answer was all sent: as free for the client
      // (a whole request answered at once, never waited for). A NO_ERROR close here is the normal end.
      stream.once("close", () => {
        if (stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) countLive(stream, born);
      });
    });
  });

  const sockets = new Set<net.Socket>();
  const perClient = new Map<string, number>();
  /** Counts the socket against its client's share; false (and closed) when that share is full. */
  const admitted = (socket: net.Socket): boolean => {
    const peer = socket.remoteAddress ?? "";
    if (isTrustedProxy(peer, trustedProxies)) return true;
    const client = clientNetwork(peer);
    const held = perClient.get(client) ?? 0;
    if (held >= limits.maxConnectionsPerIp) {
      socket.destroy();
      return false;
    }
    perClient.set(client, held + 1);
    socket.once("close", () => {
      const left = (perClient.get(client) ?? 1) - 1;
      if (left > 0) perClient.set(client, left);
      else perClient.delete(client);
    });
    return true;
  };
  const server = net.createServer((socket) => {
    if (!admitted(socket)) return;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy());
    socket.once("data", (chunk: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(chunk);
      const head = chunk.subarray(0, Math.min(chunk.length, PREFACE.length));
      if (head.equals(PREFACE.subarray(0, head.length))) {
        // Over its reset budget, a client's new HTTP/2 connection goes before a byte of it is parsed.
        // Here, not at the session: Node hands a session its first bytes a tick after 'session', and
        // throws (uncaught) if the session was destroyed by then.
        const peer = socket.remoteAddress ?? "";
        if (!isTrustedProxy(peer, trustedProxies) && resets.spent(clientNetwork(peer))) {
          socket.destroy();
          return;
        }
        // http2 reads the unshifted bytes itself; resuming would hand them to nobody.
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    });
  });
  server.maxConnections = limits.maxConnections;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  const sweep = setInterval(() => resets.sweep(), RESET_WINDOW_MS).unref();

  return {
    port: address.port,
    draining: () => draining,
    async close() {
      draining = true;
      clearInterval(sweep);
      await awaitShutdownDelay(limits);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      for (const res of inFlight) if (!res.headersSent) res.setHeader("connection", "close");
      const deadline = Date.now() + limits.shutdownGraceMs;
      // Keep-alive connections between requests hold no work: close them as they become idle.
      while (sockets.size > 0 && Date.now() < deadline) {
        h1.closeIdleConnections();
        await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
      }
      h1.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
