import { ROLE_FORMAT } from "../contract/roles.js";
import { isCanonicalPath } from "./check-input.js";
import { normalizePercentEncoding } from "./route-policy.js";

/** `prefix=role:<name>`: a caller on a path under the prefix must hold the role. */
export interface RoleRule {
  prefix: string;
  role: string;
}

export interface RolePolicy {
  /** The roles a route needs, every one of them; empty when no rule covers it. */
  requiredRoles(path: string): readonly string[];
}

/**
 * Reads AUTHZ_ROLE_RULES entries (`/admin=role:admin`; a trailing `*` is the prefix itself), pushing
 * a problem for each malformed one.
 */
export function parseRoleRules(entries: readonly string[], problems: string[]): RoleRule[] {
  const rules: RoleRule[] = [];
  for (const entry of entries) {
    const [rawPrefix = "", value = ""] = entry.split("=").map((s) => s.trim());
    const prefix = rawPrefix.endsWith("*") ? rawPrefix.slice(0, -1) : rawPrefix;
    const role = value.startsWith("role:") ? value.slice("role:".length) : "";
    if (!prefix.startsWith("/") || !ROLE_FORMAT.test(role)) {
      problems.push(`AUTHZ_ROLE_RULES: "${entry}" must be /prefix=role:<name> with a lower-case role name (${ROLE_FORMAT.source})`);
      continue;
    }
    rules.push({ prefix, role });
  }
  return rules;
}

/**
 * Role rules match as level rules do (route-policy.ts): case-insensitively, after decoding escaped
 * unreserved characters, the longest prefix deciding; several rules for that one prefix all apply.
 * A path an upstream might read differently than we do needs every role any rule names.
 */
export function createRolePolicy(rules: readonly RoleRule[]): RolePolicy {
  const lowered = rules.map((rule) => ({ ...rule, prefix: rule.prefix.toLowerCase() }));
  const every = [...new Set(rules.map((rule) => rule.role))];
  return {
    requiredRoles(raw) {
      if (lowered.length === 0) return [];
      const path = normalizePercentEncoding(raw);
      if (!isCanonicalPath(path)) return every;
      const lower = path.toLowerCase();
      const longest = lowered.reduce((best, rule) => (lower.startsWith(rule.prefix) && rule.prefix.length > best ? rule.prefix.length : best), -1);
      return longest < 0 ? [] : [...new Set(lowered.filter((rule) => rule.prefix.length === longest && lower.startsWith(rule.prefix)).map((rule) => rule.role))];
    },
  };
}
