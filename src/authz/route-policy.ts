import { AUTH_LEVELS, type AuthLevel } from "../contract/auth-level.js";
import { isCanonicalPath } from "./check-input.js";
import type { LevelRule } from "./config.js";

export interface RoutePolicy {
  isPublic(path: string): boolean;
  /** The level a route needs; undefined when any authenticated caller may pass. */
  requiredLevel(path: string): AuthLevel | undefined;
}

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * RFC 3986 6.2.2.2: a percent-encoded unreserved character is the character itself, so
 * `/example/%61dmin` is `/example/admin` to any upstream that decodes; match on that.
 * Encoded reserved characters stay encoded (and make the path non-canonical where they matter).
 */
export function normalizePercentEncoding(path: string): string {
  // Most paths carry no escapes: skip the regex on the hot path.
  if (!path.includes("%")) return path;
  return path.replace(/%([0-9A-Fa-f]{2})/g, (escape, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : escape.toUpperCase();
  });
}

/** A public prefix covers itself and what lies below it, not every path that merely starts alike (`/signin` is not `/signinX`). */
const covers = (prefix: string, path: string) => path === prefix || path.startsWith(prefix.endsWith("/") ? prefix : `${prefix}/`);

/** The path as upstreams read it, or undefined when they might read it differently than we do. */
function canonicalOf(raw: string): string | undefined {
  const path = normalizePercentEncoding(raw);
  return isCanonicalPath(path) ? path : undefined;
}

export function createRoutePolicy(deps: { publicPrefixes: string[]; levelRules: LevelRule[] }): RoutePolicy {
  // Level rules match case-insensitively and without a boundary: for a rule, matching too much only asks for more.
  const rules = [...deps.levelRules].map((rule) => ({ ...rule, prefix: rule.prefix.toLowerCase() })).sort((a, b) => b.prefix.length - a.prefix.length);
  const strictest = rules.reduce<AuthLevel | undefined>(
    (max, rule) => (max === undefined || AUTH_LEVELS.indexOf(rule.level) > AUTH_LEVELS.indexOf(max) ? rule.level : max),
    undefined,
  );
  return {
    isPublic(raw) {
      const path = canonicalOf(raw);
      return path !== undefined && deps.publicPrefixes.some((prefix) => covers(prefix, path));
    },
    // A path an upstream might read differently than we do (dot segments, encoded slashes) gets the strictest rule.
    requiredLevel(raw) {
      const path = canonicalOf(raw);
      if (path === undefined) return strictest;
      const lower = path.toLowerCase();
      return rules.find((rule) => lower.startsWith(rule.prefix))?.level;
    },
  };
}
