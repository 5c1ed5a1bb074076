/**
 * envoy.service.ratelimit.v3.RateLimitRequest as @grpc/proto-loader gives it (keepCase, no
 * defaults), checked and reduced to what the rules match on. Envoy never sends anything near
 * these bounds; a request beyond them did not come from our gateway config and is refused whole.
 */
export interface EnvoyRateLimitRequest {
  domain?: string;
  descriptors?: Array<{ entries?: Array<{ key?: string; value?: string }>; limit?: unknown }>;
  hits_addend?: number;
}

/** One descriptor: the `route` and `remote_address` entries, or `unmatched` for any other shape (no rule applies). */
export type Descriptor = { kind: "route"; route: string } | { kind: "ip"; route: string; ip: string } | { kind: "unmatched" };

export interface RateLimitRequest {
  domain: string;
  descriptors: Descriptor[];
  /** Points each matched budget is charged; Envoy's 0 (unset) means 1. */
  hits: number;
}

export class InvalidRateLimitRequest extends Error {
  override readonly name = "InvalidRateLimitRequest";
}

export const LIMITS = { descriptors: 16, entries: 8, keyLength: 64, valueLength: 256, hits: 1000 } as const;

export function parseRateLimitRequest(request: EnvoyRateLimitRequest, domain: string): RateLimitRequest {
  const fail = (reason: string): never => {
    throw new InvalidRateLimitRequest(reason);
  };
  if (!request.domain) fail("domain is required");
  if (request.domain !== domain) fail(`unknown domain "${String(request.domain).slice(0, 64)}"; this service answers for "${domain}"`);
  const raw = request.descriptors ?? [];
  if (raw.length === 0) fail("at least one descriptor is required");
  if (raw.length > LIMITS.descriptors) fail(`at most ${LIMITS.descriptors} descriptors, got ${raw.length}`);
  const hits = request.hits_addend ?? 0;
  if (!Number.isInteger(hits) || hits < 0 || hits > LIMITS.hits) fail(`hits_addend must be 0 to ${LIMITS.hits}`);

  const descriptors = raw.map((descriptor, i): Descriptor => {
    // An override would let the caller pick its own budget; envoy.yaml never asks for one.
    if (descriptor.limit) fail(`descriptors[${i}]: limit overrides are not accepted`);
    const entries = descriptor.entries ?? [];
    if (entries.length === 0) fail(`descriptors[${i}] has no entries`);
    if (entries.length > LIMITS.entries) fail(`descriptors[${i}]: at most ${LIMITS.entries} entries, got ${entries.length}`);
    const byKey = new Map<string, string>();
    entries.forEach(({ key = "", value = "" }, j) => {
      const at = `descriptors[${i}].entries[${j}]`;
      if (key === "" || value === "") fail(`${at}: key and value must not be empty`);
      if (key.length > LIMITS.keyLength) fail(`${at}: key longer than ${LIMITS.keyLength} characters`);
      if (value.length > LIMITS.valueLength) fail(`${at}: value longer than ${LIMITS.valueLength} characters`);
      if (byKey.has(key)) fail(`${at}: key "${key}" appears twice`);
      byKey.set(key, value);
    });
    const route = byKey.get("route");
    const ip = byKey.get("remote_address");
    if (route !== undefined && byKey.size === 1) return { kind: "route", route };
    if (route !== undefined && ip !== undefined && byKey.size === 2) return { kind: "ip", route, ip };
    return { kind: "unmatched" };
  });
  return { domain, descriptors, hits: hits === 0 ? 1 : hits };
}
