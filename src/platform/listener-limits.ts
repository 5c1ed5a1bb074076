import { setTimeout as sleep } from "node:timers/promises";
import type { EnvReader } from "./config.js";

/** What one client may hold of a listening port, and how long a stop waits for work in flight. */
export interface ListenerLimits {
  /** HTTP_HEADERS_TIMEOUT: a request's headers must all arrive within this (slowloris). Default 10s. */
  headersTimeoutMs: number;
  /** HTTP_REQUEST_TIMEOUT: a whole request, body included, must arrive within this. Default 30s. */
  requestTimeoutMs: number;
  /**
   * HTTP_KEEPALIVE_TIMEOUT: an idle HTTP/1.1 keep-alive connection is closed after this. Default 65s:
   * longer than the proxies' upstream idle timeouts (nginx 60s, Envoy 1h is capped by its own
   * idle_timeout), so the proxy closes first and never sends on a connection we are closing.
   */
  keepAliveTimeoutMs: number;
  /** HTTP_IDLE_TIMEOUT: a connection of either protocol with no traffic at all for this long is closed. Default 5m. */
  idleTimeoutMs: number;
  /** MAX_CONNECTIONS: connections this instance holds at once; more are closed on arrival. Default 4096. */
  maxConnections: number;
  /**
   * MAX_CONNECTIONS_PER_IP: connections one client address (an IPv6 client's /64) holds at once on the
   * auth port; more are closed on arrival, so one client cannot take the whole MAX_CONNECTIONS.
   * TRUSTED_PROXIES are not held to it: their connections carry many clients. Default 256.
   */
  maxConnectionsPerIp: number;
  /** H2_MAX_CONCURRENT_STREAMS: open streams per HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS). Default 100. */
  maxConcurrentStreams: number;
  /**
   * H2_MAX_ACTIVE_STREAMS: streams of one HTTP/2 connection worked on at once; its other open streams
   * wait their turn on that connection, so one client cannot hold the whole database pool. Default 8.
   */
  maxActiveStreams: number;
  /**
   * H2_MAX_RESETS: streams one client address may reset within a second of their arrival, per 10 s
   * over all its connections; past it its HTTP/2 connections are closed and new ones refused until
   * its resets fall back under it (CVE-2023-44487). Default 200.
   */
  maxResetsPer10s: number;
  /**
   * SHUTDOWN_DELAY: on SIGTERM, how long the instance keeps accepting and serving while it already
   * answers not-ready, so load balancers that poll readiness (Kubernetes endpoints, HAProxy, Envoy
   * health checks) stop sending before the listener closes. Default none: the local gateway's health
   * check and GOAWAY move traffic at once.
   */
  shutdownDelayMs: number;
  /** SHUTDOWN_GRACE: on SIGTERM, how long work in flight may take to finish before connections are cut. Default 10s. */
  shutdownGraceMs: number;
}

export function readListenerLimits(read: EnvReader): ListenerLimits {
  return {
    headersTimeoutMs: read.duration("HTTP_HEADERS_TIMEOUT", "10s"),
    requestTimeoutMs: read.duration("HTTP_REQUEST_TIMEOUT", "30s"),
    keepAliveTimeoutMs: read.duration("HTTP_KEEPALIVE_TIMEOUT", "65s"),
    idleTimeoutMs: read.duration("HTTP_IDLE_TIMEOUT", "5m"),
    maxConnections: read.integer("MAX_CONNECTIONS", 4096, 1, 1_000_000),
    maxConnectionsPerIp: read.integer("MAX_CONNECTIONS_PER_IP", 256, 1, 1_000_000),
    maxConcurrentStreams: read.integer("H2_MAX_CONCURRENT_STREAMS", 100, 1, 10_000),
    maxActiveStreams: read.integer("H2_MAX_ACTIVE_STREAMS", 8, 1, 10_000),
    maxResetsPer10s: read.integer("H2_MAX_RESETS", 200, 1, 1_000_000),
    // Unset means none; a value given must be a real duration.
    shutdownDelayMs: read.isSet("SHUTDOWN_DELAY") ? read.duration("SHUTDOWN_DELAY", "1s") : 0,
    shutdownGraceMs: read.duration("SHUTDOWN_GRACE", "10s"),
  };
}

/** The first step of every drain: readiness already answers not-ready; wait SHUTDOWN_DELAY before closing. */
export async function awaitShutdownDelay(limits: Pick<ListenerLimits, "shutdownDelayMs">): Promise<void> {
  if (limits.shutdownDelayMs > 0) await sleep(limits.shutdownDelayMs);
}
