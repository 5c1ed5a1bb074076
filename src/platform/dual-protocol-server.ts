import http from "node:http";
import http2 from "node:http2";
import net from "node:net";

type Handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;

export interface ListeningServer {
  port: number;
  close(): Promise<void>;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n");

/**
 * One plaintext port for HTTP/1.1 (Connect JSON, gRPC-Web, curl, browsers)
 * and h2c with prior knowledge (gRPC clients). Node cannot negotiate both
 * without TLS, so the first bytes of each connection pick the server.
 */
export async function listenDualProtocol(handler: Handler, host: string, port: number): Promise<ListeningServer> {
  const h1 = http.createServer(handler as http.RequestListener);
  h1.keepAliveTimeout = 65_000;
  h1.headersTimeout = 10_000;
  h1.requestTimeout = 30_000;
  const h2 = http2.createServer({ maxSessionMemory: 10 }, handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  const sockets = new Set<net.Socket>();

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    // A connection that never sends a byte must not hold a socket forever.
    socket.setTimeout(10_000, () => socket.destroy());
    socket.once("data", (chunk: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(chunk);
      const head = chunk.subarray(0, Math.min(chunk.length, PREFACE.length));
      if (head.equals(PREFACE.subarray(0, head.length))) {
        // http2 reads the unshifted bytes itself; resuming would hand them to nobody.
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as net.AddressInfo;

  return {
    port: address.port,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        h1.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}
