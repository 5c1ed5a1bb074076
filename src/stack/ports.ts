import net from "node:net";

export interface StackPorts {
  primary: number;
  replicas: number[];
  pgbouncer: number;
  haproxy: number;
  haproxyStats: number;
  redis: number;
}

/** Asks the kernel for a free port by binding port 0; the port is released before return. */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Fills in every port not given with a free one, never handing out the same port twice. */
export async function resolvePorts(given: Partial<StackPorts>, replicas: number): Promise<StackPorts> {
  if (given.replicas !== undefined && given.replicas.length !== replicas) {
    throw new Error(`ports.replicas has ${given.replicas.length} entries but replicas is ${replicas}`);
  }
  const taken = new Set<number>([
    ...[given.primary, given.pgbouncer, given.haproxy, given.haproxyStats, given.redis].filter((p): p is number => p !== undefined),
    ...(given.replicas ?? []),
  ]);
  const next = async (): Promise<number> => {
    for (;;) {
      const port = await findFreePort();
      if (!taken.has(port)) {
        taken.add(port);
        return port;
      }
    }
  };
  return {
    primary: given.primary ?? (await next()),
    replicas: given.replicas ?? (await Promise.all(Array.from({ length: replicas }, next))),
    pgbouncer: given.pgbouncer ?? (await next()),
    haproxy: given.haproxy ?? (await next()),
    haproxyStats: given.haproxyStats ?? (await next()),
    redis: given.redis ?? (await next()),
  };
}

export function canConnect(port: number, host = "127.0.0.1", timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
