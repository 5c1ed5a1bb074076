import { randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import net from "node:net";

export interface StackPorts {
  primary: number;
  replicas: number[];
  pgbouncer: number;
  haproxy: number;
  haproxyStats: number;
  redis: number;
  /** The nodes of a Redis Cluster (STACK_REDIS=cluster), else empty. */
  redisCluster: number[];
  /** Their cluster bus ports, one each. */
  redisClusterBus: number[];
}

/**
 * The kernel's ephemeral range (net.ipv4.ip_local_port_range): ports it hands to `listen(0)` and to
 * outgoing connections. A port chosen below it cannot be taken by either between the check and the
 * bind of the program it is for (two Envoys, or an Envoy and a just-started service, raced for one).
 */
function ephemeralLow(): number {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (low && low > FIRST_PORT) return low;
  } catch {
    // Not Linux: the IANA dynamic range.
  }
  return 49152;
}

const FIRST_PORT = 10_000;
// Read once: the range is a host setting, and a stack start asks for many ports.
let ephemeralStart: number | undefined;

/** A port free on loopback right now, below the ephemeral range; the check's socket is closed before return. */
export async function findFreePort(): Promise<number> {
  const below = (ephemeralStart ??= ephemeralLow());
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = FIRST_PORT + randomInt(below - FIRST_PORT);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port found between ${FIRST_PORT} and ${below - 1} in 50 tries`);
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Fills in every port not given with a free one, never handing out the same port twice. */
export async function resolvePorts(given: Partial<StackPorts>, replicas: number, clusterNodes = 0): Promise<StackPorts> {
  if (given.replicas !== undefined && given.replicas.length !== replicas) {
    throw new Error(`ports.replicas has ${given.replicas.length} entries but replicas is ${replicas}`);
  }
  const taken = new Set<number>([
    ...[given.primary, given.pgbouncer, given.haproxy, given.haproxyStats, given.redis].filter((p): p is number => p !== undefined),
    ...(given.replicas ?? []),
    ...(given.redisCluster ?? []),
    ...(given.redisClusterBus ?? []),
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
    redisCluster: given.redisCluster?.length === clusterNodes ? given.redisCluster : await Promise.all(Array.from({ length: clusterNodes }, next)),
    redisClusterBus: given.redisClusterBus?.length === clusterNodes ? given.redisClusterBus : await Promise.all(Array.from({ length: clusterNodes }, next)),
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
