import { AUTH_LEVELS, type AuthLevel } from "./auth-level.js";
import { isCanonicalPath } from "./check-input.js";
import type { LevelRule } from "./config.js";

export interface RoutePolicy {
  isPublic(path: string): boolean;
  /** The level a route needs; undefined when any authenticated caller may pass. */
  requiredLevel(path: string): AuthLevel | undefined;
}

export function createRoutePolicy(deps: { publicPrefixes: string[]; levelRules: LevelRule[] }): RoutePolicy {
  const rules = [...deps.levelRules].sort((a, b) => b.prefix.length - a.prefix.length);
  const strictest = rules.reduce<AuthLevel | undefined>(
    (max, rule) => (max === undefined || AUTH_LEVELS.indexOf(rule.level) > AUTH_LEVELS.indexOf(max) ? rule.level : max),
    undefined,
  );
  return {
    isPublic: (path) => isCanonicalPath(path) && deps.publicPrefixes.some((prefix) => path.startsWith(prefix)),
    // A path an upstream might read differently than we do (dot segments, encoded slashes) gets the strictest rule.
    requiredLevel: (path) => (isCanonicalPath(path) ? rules.find((rule) => path.startsWith(rule.prefix))?.level : strictest),
  };
}
