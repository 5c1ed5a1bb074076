import type { IncomingMessage } from "node:http";
import { headerMap, splitTarget, type CheckInput } from "./check-input.js";

// RFC 9110 5.6.2: a method is a token.
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}$/;

const first = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

/** Both header families at once: no way to tell the proxy's account of the request from the client's. */
export class AmbiguousForwardRequest extends Error {
  constructor() {
    super("both X-Original-* and X-Forwarded-Uri/-Method headers are present");
    this.name = "AmbiguousForwardRequest";
  }
}

/**
 * The original request as a reverse proxy describes it to a forward-auth endpoint: nginx
 * (`X-Original-URI`, `X-Original-Method`), Traefik and Caddy (`X-Forwarded-Uri`, `-Method`, `-Host`).
 * These headers are believed, so the endpoint must be reachable by the proxy only.
 */
export function fromForwardAuthRequest(req: IncomingMessage): CheckInput {
  // Traefik and Caddy pass the client's own headers on to forward-auth: a client-sent X-Original-URI
  // beside the proxy's X-Forwarded-Uri would otherwise choose the path we decide about.
  const original = req.headers["x-original-uri"] !== undefined || req.headers["x-original-method"] !== undefined;
  const forwarded = req.headers["x-forwarded-uri"] !== undefined || req.headers["x-forwarded-method"] !== undefined;
  if (original && forwarded) throw new AmbiguousForwardRequest();
  const target = first(req.headers["x-original-uri"]) ?? first(req.headers["x-forwarded-uri"]) ?? "/";
  const claimedMethod = first(req.headers["x-original-method"]) ?? first(req.headers["x-forwarded-method"]);
  const method = claimedMethod && METHOD.test(claimedMethod) ? claimedMethod.toUpperCase() : (req.method ?? "GET");
  const { path, query } = splitTarget(target);
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) pairs.push([req.rawHeaders[i] ?? "", req.rawHeaders[i + 1] ?? ""]);
  return {
    method,
    path: path.startsWith("/") ? path : `/${path}`,
    query,
    host: first(req.headers["x-forwarded-host"]) ?? req.headers.host ?? "",
    headers: headerMap(pairs),
  };
}
