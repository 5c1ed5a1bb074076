import type { Logger } from "../platform/log.js";
import type { CheckInput } from "./check-input.js";
import type { CheckPipeline } from "./check-pipeline.js";
import type { Decision } from "./decision.js";
import type { AuthzMetrics, Transport } from "./metrics.js";
import { toVerdict, type Verdict, type VerdictOptions } from "./verdict.js";

export interface Authorizer {
  /** Decides, renders, counts and logs one request; rejects only on an internal fault. */
  authorize(input: CheckInput, transport: Transport, redirectBrowsers: boolean): Promise<{ decision: Decision; verdict: Verdict }>;
}

export interface AuthorizerDeps {
  pipeline: CheckPipeline;
  metrics: AuthzMetrics;
  log: Logger;
  realm: string;
  signinUrl: string;
}

// The reduced request only: credentials never reach the logs.
const requestOf = (input: CheckInput) => ({ requestId: input.headers.get("x-request-id"), method: input.method, host: input.host, path: input.path.slice(0, 512) });

// Our own faults (503) are worth a line even in a flood, but not one per request.
const FAULT_LOG_INTERVAL_MS = 10_000;

export function createAuthorizer(deps: AuthorizerDeps): Authorizer {
  const faultLoggedAt = new Map<string, number>();
  const suppressed = new Map<string, number>();
  // Fixed for the server's life, so not rebuilt per request.
  const redirecting: VerdictOptions = { realm: deps.realm, signinUrl: deps.signinUrl, redirectBrowsers: true };
  const notRedirecting: VerdictOptions = { ...redirecting, redirectBrowsers: false };
  return {
    async authorize(input, transport, redirectBrowsers) {
      const started = process.hrtime.bigint();
      const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
      let decision: Decision;
      try {
        decision = await deps.pipeline.check(input);
      } catch (error) {
        deps.metrics.observe(transport, "error", seconds());
        deps.log.error({ err: error, request: requestOf(input), transport }, "check failed");
        throw error;
      }
      deps.metrics.observe(transport, decision, seconds());
      const verdict = toVerdict(decision, input, redirectBrowsers ? redirecting : notRedirecting);
      if (!decision.allow) {
        // Denials are the client's doing and counted in authz_checks_total; a log line each would let
        // any unauthenticated flood write the disk full. Faults of ours are logged, at most one line
        // per reason every FAULT_LOG_INTERVAL_MS with the count of those left out.
        if (decision.status >= 500) {
          const now = Date.now();
          if (now - (faultLoggedAt.get(decision.reason) ?? 0) >= FAULT_LOG_INTERVAL_MS) {
            faultLoggedAt.set(decision.reason, now);
            const alike = suppressed.get(decision.reason) ?? 0;
            suppressed.set(decision.reason, 0);
            deps.log.warn({ request: requestOf(input), transport, reason: decision.reason, status: verdict.status, suppressedSinceLast: alike }, "check denied: our fault");
          } else {
            suppressed.set(decision.reason, (suppressed.get(decision.reason) ?? 0) + 1);
          }
        } else if (deps.log.isLevelEnabled("debug")) {
          deps.log.debug({ request: requestOf(input), transport, decision: "deny", reason: decision.reason, status: verdict.status }, "check denied");
        }
      } else if (deps.log.isLevelEnabled("debug")) {
        // Allows are the bulk of traffic: their entry is built only when it will be written.
        const userId = "identity" in decision ? decision.identity.userId : undefined;
        deps.log.debug({ request: requestOf(input), transport, decision: "allow", reason: decision.reason, status: verdict.status, userId }, "check");
      }
      return { decision, verdict };
    },
  };
}
