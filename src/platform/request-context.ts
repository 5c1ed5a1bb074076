import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { createContextKey } from "@connectrpc/connect";
import { MAX_USER_AGENT_LENGTH } from "../contract/session-record.js";

/** Per-request facts, travelling in Connect context values. */
export interface RequestMeta {
  requestId: string;
  ip: string;
  userAgent: string;
  /** Accept-Language, one of the attributes a session can be bound to (DEVICE_BINDING). */
  acceptLanguage: string;
}

export const kRequestMeta = createContextKey<RequestMeta>(
  { requestId: "", ip: "", userAgent: "", acceptLanguage: "" },
  { description: "request id, client IP and user agent" },
);

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function header(req: IncomingMessage | Http2ServerRequest, name: string): string {
  const value = req.headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? "";
}

/**
 * The client IP: the socket peer, unless that peer is a trusted proxy, in
 * which case the right-most X-Forwarded-For entry not added by a trusted proxy.
 * Anything else would let a client choose the IP its rate limits count against.
 */
export function clientIp(peer: string, forwardedFor: string, trustedProxies: readonly string[]): string {
  const normalized = peer.replace(/^::ffff:/, "");
  if (!isTrustedProxy(normalized, trustedProxies)) return normalized;
  const hops = forwardedFor.split(",").map((hop) => hop.trim()).filter((hop) => hop !== "");
  while (hops.length > 0) {
    const hop = hops.pop() as string;
    if (!trustedProxies.includes(hop)) return hop.slice(0, 64);
  }
  return normalized;
}

/** Whether a socket peer is one of TRUSTED_PROXIES (an IPv4-mapped peer counts as its IPv4 address). */
export function isTrustedProxy(peer: string, trustedProxies: readonly string[]): boolean {
  return trustedProxies.includes(peer.replace(/^::ffff:/, ""));
}

export function requestMetaFrom(req: IncomingMessage | Http2ServerRequest, trustedProxies: readonly string[]): RequestMeta {
  const given = header(req, "x-request-id");
  return {
    // Envoy's x-request-id carries through; anything odd is replaced rather than logged verbatim.
    requestId: REQUEST_ID.test(given) ? given : randomUUID(),
    ip: clientIp(req.socket?.remoteAddress ?? "", header(req, "x-forwarded-for"), trustedProxies),
    userAgent: header(req, "user-agent").slice(0, MAX_USER_AGENT_LENGTH),
    acceptLanguage: header(req, "accept-language").slice(0, MAX_USER_AGENT_LENGTH),
  };
}
