/**
 * Gateway budgets, matched against the descriptors Envoy's rate limit filter sends.
 *
 * envoy/envoy.yaml gives each limited route two descriptors (route-level `rate_limits`):
 *   [("route", <name>), ("remote_address", <client ip>)]   spent per client address
 *   [("route", <name>)]                                       spent by every client together
 * A rule names the route and which of the two it budgets:
 *   <route>:ip=<points>/<unit>      e.g. signin:ip=20/1m
 *   <route>:route=<points>/<unit>   e.g. signup:route=600/1m
 * The unit is one of Envoy's RateLimit units (1s, 1m, 1h, 1d) so the x-ratelimit-limit header
 * Envoy derives from it (`20, 20;w=60`) states the real window.
 */
export type Subject = "ip" | "route";

export type RateLimitUnit = "SECOND" | "MINUTE" | "HOUR" | "DAY";

export interface GatewayRule {
  route: string;
  subject: Subject;
  points: number;
  unit: RateLimitUnit;
}

export const UNIT_SECONDS: Record<RateLimitUnit, number> = { SECOND: 1, MINUTE: 60, HOUR: 3600, DAY: 86_400 };
const UNITS: Record<string, RateLimitUnit> = { "1s": "SECOND", "1m": "MINUTE", "1h": "HOUR", "1d": "DAY" };

/** Route names are the generic_key values in envoy.yaml: short, and safe inside a Redis key. */
export const ROUTE_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
const RULE = /^([^:=\s]+):([a-z]+)=(\d{1,9})\/(\S+)$/;

// The public routes a client uses before it has a credential: where guessing and flooding happen.
export const DEFAULT_GATEWAY_RULES =
  "signin-page:ip=60/1m,signin:ip=20/1m,complete-signin:ip=20/1m,signup:ip=10/1m,password-reset:ip=5/1m";

/** Parses the rule list; each bad entry adds a problem that quotes it. `none` means no rules. */
export function parseGatewayRules(name: string, text: string, problems: string[]): GatewayRule[] {
  if (text.trim() === "none") return [];
  const rules: GatewayRule[] = [];
  const seen = new Set<string>();
  for (const entry of text.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const match = RULE.exec(entry);
    const [, route = "", subject = "", points = "0", unit = ""] = match ?? [];
    const problem = !match
      ? "must read <route>:<ip|route>=<points>/<1s|1m|1h|1d>"
      : !ROUTE_NAME.test(route)
        ? "the route must be lower-case letters, digits and dashes (the generic_key value in envoy.yaml)"
        : subject !== "ip" && subject !== "route"
          ? "the subject must be ip (per client address) or route (all clients together)"
          : Number(points) < 1
            ? "points must be at least 1"
            : !(unit in UNITS)
              ? "the window must be one of 1s, 1m, 1h, 1d (Envoy's rate limit units)"
              : seen.has(`${route}:${subject}`)
                ? "the same route and subject appear twice"
                : undefined;
    if (problem) {
      problems.push(`${name}: "${entry}" ${problem}`);
      continue;
    }
    seen.add(`${route}:${subject}`);
    rules.push({ route, subject: subject as Subject, points: Number(points), unit: UNITS[unit] as RateLimitUnit });
  }
  return rules;
}

export const ruleName = (rule: Pick<GatewayRule, "route" | "subject">) => `${rule.route}:${rule.subject}`;
