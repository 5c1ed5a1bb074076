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

export function createAuthorizer(deps: AuthorizerDeps): Authorizer {
  return {
    async authorize(input, transport, redirectBrowsers) {
      const started = process.hrtime.bigint();
      const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
      // The reduced request only: credentials never reach the logs.
      const request = { requestId: input.headers.get("x-request-id"), method: input.method, host: input.host, path: input.path.slice(0, 512) };
      let decision: Decision;
      try {
        decision = await deps.pipeline.check(input);
      } catch (error) {
        deps.metrics.observe(transport, "error", seconds());
        deps.log.error({ err: error, request, transport }, "check failed");
        throw error;
      }
      deps.metrics.observe(transport, decision, seconds());
      const options: VerdictOptions = { realm: deps.realm, signinUrl: deps.signinUrl, redirectBrowsers };
      const verdict = toVerdict(decision, input, options);
      const entry = { request, transport, decision: decision.allow ? "allow" : "deny", reason: decision.reason, status: verdict.status };
      if (decision.allow) deps.log.debug({ ...entry, userId: "identity" in decision ? decision.identity.userId : undefined }, "check");
      else deps.log.info(entry, "check denied");
      return { decision, verdict };
    },
  };
}
