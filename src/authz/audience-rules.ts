import type { EnvReader } from "../platform/config.js";
import { isCanonicalPath } from "./check-input.js";
import { normalizePercentEncoding } from "./route-policy.js";

/** Routes that accept OAuth access tokens (RFC 9068) issued for one resource: `aud` must name it. */
export interface AudienceRule {
  prefix: string;
  audience: string;
}

export interface AudiencePolicy {
  /** Every audience some route accepts: the token verifier takes these besides our own. */
  audiences: readonly string[];
  /** Whether a token for `audience` may pass on `path`: only where a rule names that audience, nowhere else. */
  accepts(path: string, audience: string): boolean;
}

/** AUTHZ_AUDIENCE_RULES: comma-separated `/prefix=<audience>`, e.g. `/example/=urn:example:api`; the longest prefix wins. Default none. */
export function readAudienceRules(read: EnvReader, ownAudience: string): AudienceRule[] {
  const rules: AudienceRule[] = [];
  for (const entry of read.list("AUTHZ_AUDIENCE_RULES")) {
    const split = entry.indexOf("=");
    const prefix = split > 0 ? entry.slice(0, split).trim() : "";
    const audience = split > 0 ? entry.slice(split + 1).trim() : "";
    if (!prefix.startsWith("/") || audience === "") {
      read.report(`AUTHZ_AUDIENCE_RULES: "${entry.slice(0, 100)}" must be /prefix=<audience>`);
      continue;
    }
    if (audience === ownAudience) {
      read.report(`AUTHZ_AUDIENCE_RULES: "${entry.slice(0, 100)}" names AUTH_AUDIENCE, the audience of the platform's own tokens, which pass everywhere already`);
      continue;
    }
    rules.push({ prefix: prefix.toLowerCase(), audience });
  }
  return rules;
}

export function createAudiencePolicy(rules: readonly AudienceRule[]): AudiencePolicy {
  const sorted = [...rules].sort((a, b) => b.prefix.length - a.prefix.length);
  return {
    audiences: [...new Set(rules.map((r) => r.audience))],
    accepts(raw, audience) {
      const path = normalizePercentEncoding(raw);
      // A path an upstream might read differently than we do takes no OAuth token at all.
      if (!isCanonicalPath(path)) return false;
      const lower = path.toLowerCase();
      return sorted.find((rule) => lower.startsWith(rule.prefix))?.audience === audience;
    },
  };
}
