import { EventEmitter } from "node:events";
import { Cluster, Redis, type RedisOptions as IoredisOptions } from "ioredis";
import { redisVariable, type RedisNode, type RedisTarget } from "./redis-target.js";

/** One Redis node or a Redis Cluster: every command the services send works on both (see session-record.ts for the key layout). */
export type RedisClient = Redis | Cluster;

export interface RedisOptions {
  /** Every command fails after this long instead of waiting for a reconnect. */
  commandTimeoutMs?: number;
  onError?: (error: Error) => void;
  /** Applied last, over the defaults above, for connections with needs of their own. */
  ioredis?: Partial<IoredisOptions>;
}

const backoff = (attempt: number) => Math.min(50 * 2 ** attempt, 1000);

function nodeOptions(options: RedisOptions): IoredisOptions {
  return {
    connectTimeout: 2000,
    commandTimeout: options.commandTimeoutMs ?? 2000,
    maxRetriesPerRequest: 1,
    // Queueing while disconnected would turn an outage into hung requests.
    enableOfflineQueue: false,
    retryStrategy: backoff,
    ...options.ioredis,
  };
}

/** The AUTH a cluster's nodes need; a single node's comes in its URL. */
const authOf = (target: RedisTarget): Partial<IoredisOptions> => (target.kind === "cluster" && target.password ? { password: target.password } : {});

export function createRedis(target: RedisTarget, options: RedisOptions = {}): RedisClient {
  const redis: RedisClient =
    target.kind === "node"
      ? new Redis(target.url, { lazyConnect: false, ...nodeOptions(options) })
      : new Cluster(target.nodes, {
          // As on one node: a cluster without a slot map fails commands at once instead of queueing them.
          // Each node's own connection queues until the commandTimeout bounds it (ioredis forces that there).
          enableOfflineQueue: false,
          clusterRetryStrategy: backoff,
          // A failover or a resharding answers MOVED/ASK/TRYAGAIN/CLUSTERDOWN for a moment: retried
          // after these delays, each command still bounded by its commandTimeout.
          retryDelayOnFailover: 100,
          retryDelayOnClusterDown: 100,
          retryDelayOnTryAgain: 100,
          retryDelayOnMoved: 0,
          maxRedirections: 16,
          slotsRefreshTimeout: 2000,
          // Replicas lag: every read and write goes to the slot's master (security-critical reads).
          scaleReads: "master",
          // Never on a cluster: ioredis handles a MOVED for a whole auto-pipeline, not per command, so a
          // resharding fails reads of slots that did not even move (redis/ioredis#2075, open on 6.0).
          enableAutoPipelining: false,
          redisOptions: { ...nodeOptions(options), ...authOf(target) },
        });
  redis.on("error", (error: Error) => options.onError?.(error));
  return redis;
}

/**
 * A connection for SUBSCRIBE that says when it is subscribable ("ready") and when events may have
 * been missed ("close"), so the caller can resync. ioredis' own cluster subscriber moves to another
 * node silently, which would hide a gap; this one is a plain connection to one node that, on a
 * cluster, moves to the next node each time it loses its own. Every node of a cluster hears every
 * PUBLISH (the cluster bus broadcasts them), so any node will do.
 */
export interface SubscriberConnection {
  readonly status: string;
  subscribe(channel: string): Promise<unknown>;
  on(event: "message", listener: (channel: string, message: string) => void): this;
  on(event: "ready" | "close", listener: () => void): this;
  off(event: "ready" | "close", listener: () => void): this;
  quit(): Promise<unknown>;
  disconnect(): void;
}

export function createRedisSubscriber(target: RedisTarget, options: RedisOptions & { knownNodes?: () => RedisNode[] } = {}): SubscriberConnection {
  // A subscribed connection waits for messages indefinitely; the listener resubscribes itself so it can resync.
  const ioredis: IoredisOptions = { ...nodeOptions(options), commandTimeout: undefined, autoResubscribe: false, ...options.ioredis };
  if (target.kind === "node") {
    const redis = new Redis(target.url, ioredis);
    redis.on("error", (error: Error) => options.onError?.(error));
    return redis;
  }
  return new RotatingSubscriber(target.nodes, options.knownNodes ?? (() => []), { ...ioredis, ...authOf(target) }, options.onError);
}

class RotatingSubscriber extends EventEmitter {
  private current: Redis;
  private next = 0;
  private attempt = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly seeds: RedisNode[],
    private readonly knownNodes: () => RedisNode[],
    private readonly ioredis: IoredisOptions,
    private readonly onError: ((error: Error) => void) | undefined,
  ) {
    super();
    this.current = this.connect();
  }

  get status(): string {
    return this.current.status;
  }

  private candidates(): RedisNode[] {
    const seen = new Map<string, RedisNode>();
    for (const node of [...this.seeds, ...this.knownNodes()]) seen.set(`${node.host}:${node.port}`, node);
    return [...seen.values()];
  }

  private connect(): Redis {
    const nodes = this.candidates();
    const node = nodes[this.next++ % nodes.length]!;
    // Ends instead of retrying the same node: the next attempt goes to another one.
    const redis = new Redis({ ...this.ioredis, host: node.host, port: node.port, retryStrategy: () => null });
    redis.on("error", (error: Error) => this.onError?.(error));
    redis.on("message", (channel: string, message: string) => this.emit("message", channel, message));
    redis.on("ready", () => {
      this.attempt = 0;
      this.emit("ready");
    });
    redis.on("close", () => this.emit("close"));
    redis.once("end", () => {
      if (this.closed) return;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (!this.closed) this.current = this.connect();
      }, backoff(this.attempt++));
    });
    return redis;
  }

  subscribe(channel: string): Promise<unknown> {
    return this.current.subscribe(channel);
  }

  async quit(): Promise<unknown> {
    this.closed = true;
    clearTimeout(this.timer);
    return this.current.quit();
  }

  disconnect(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.current.disconnect();
  }
}

/** The servers holding the keyspace: every master of a cluster, or the one server. For SCAN, which walks one server. */
export function keyspaceNodes(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes("master") : [redis];
}

/** The nodes a cluster client has discovered (masters and replicas), for a subscriber to move between. */
export function discoveredNodes(redis: RedisClient): RedisNode[] {
  if (!(redis instanceof Cluster)) return [];
  return redis.nodes("all").flatMap((node) => (node.options.host && node.options.port ? [{ host: node.options.host, port: node.options.port }] : []));
}

/** Resolves once connected; commands fail fast while disconnected, so start-up must wait for this. */
export function redisReady(redis: RedisClient, target: RedisTarget, timeoutMs = 10_000): Promise<void> {
  if (redis.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off("ready", onReady);
      reject(new Error(`Redis not reachable within ${timeoutMs} ms (${redisVariable(target)})`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once("ready", onReady);
  });
}
