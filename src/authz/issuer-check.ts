import { setTimeout as sleep } from "node:timers/promises";
import { ConfigError } from "../platform/config.js";
import type { Logger } from "../platform/log.js";

export interface IssuerCheckDeps {
  /** The auth service's RFC 8414 metadata document. */
  metadataUrl: string;
  /** The issuer this authz server accepts (AUTH_ISSUER). */
  issuer: string;
  /** How long to wait for an auth service that is not up yet. */
  waitMs: number;
  log: Logger;
  fetch?: typeof fetch;
  retryEveryMs?: number;
}

const ATTEMPT_TIMEOUT_MS = 2000;

/**
 * Refuses to start an authz server whose AUTH_ISSUER the auth service does not sign with: it would
 * deny every token as invalid_token, looking like an attack rather than a typo. Reads the
 * `issuer` of the auth service's RFC 8414 metadata (section 3.2), waiting a bounded time while
 * no auth service answers; a mismatch fails at once.
 */
export async function assertIssuerServed(deps: IssuerCheckDeps): Promise<void> {
  const get = deps.fetch ?? fetch;
  const deadline = Date.now() + deps.waitMs;
  let lastProblem = "";
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await get(deps.metadataUrl, { signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS), headers: { accept: "application/json" } });
      if (response.ok) {
        const body = (await response.json()) as { issuer?: unknown };
        if (typeof body.issuer !== "string") throw new ConfigError([`AUTH_ISSUER: ${deps.metadataUrl} names no issuer; is it our auth service?`]);
        if (body.issuer !== deps.issuer) {
          throw new ConfigError([
            `AUTH_ISSUER is "${deps.issuer}" but the auth service at ${deps.metadataUrl} signs as "${body.issuer}": ` +
              "give authz and every auth instance the same AUTH_ISSUER (every token would be refused otherwise)",
          ]);
        }
        deps.log.info({ issuer: body.issuer, metadataUrl: deps.metadataUrl }, "auth service signs with our issuer");
        return;
      }
      lastProblem = `HTTP ${response.status}`;
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      lastProblem = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
    }
    if (Date.now() >= deadline) {
      throw new ConfigError([
        `AUTH_ISSUER: could not confirm it with the auth service at ${deps.metadataUrl} within ${deps.waitMs} ms (${lastProblem}); ` +
          "set AUTHZ_ISSUER_METADATA_URL to where the auth service serves /.well-known/oauth-authorization-server",
      ]);
    }
    if (attempt === 1) deps.log.info({ metadataUrl: deps.metadataUrl, problem: lastProblem }, "waiting for the auth service to confirm the issuer");
    await sleep(deps.retryEveryMs ?? 250);
  }
}
