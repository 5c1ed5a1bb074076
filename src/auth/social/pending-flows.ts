import { randomBytes } from "node:crypto";
import type { RedisClient } from "../../platform/redis.js";
import { hashSessionSecret } from "../../contract/session-secret.js";
import { TOKEN_FORMAT } from "../lifecycle/account-token.js";
import type { IdentityKey } from "./identity-store.js";

/** An authorization request on its way to the provider: what its callback must match (RFC 9700 2.1, 4.7). */
export interface StartedFlow {
  provider: string;
  state: string;
  nonce: string;
  codeVerifier: string;
  returnTo: string;
}

/** A provider identity whose verified email is an existing account's: waiting for that account's password. */
export interface PendingLink extends IdentityKey {
  email: string;
  userId: string;
  returnTo: string;
  /** SHA-256 (hex) of the token of the newest link mailed to the account for this ticket, if one was. */
  mailTokenHash?: string;
}

/**
 * Half-finished social sign-ins in Redis, each under the SHA-256 of a 256-bit random handle the
 * browser holds (the flow cookie, the link form): single use, so a replayed callback or a second
 * link with one ticket finds nothing.
 */
export interface PendingFlows {
  start(flow: StartedFlow): Promise<string>;
  /**
   * The flow, removed, if the callback answers it (its provider and state): a callback is answered
   * once. "mismatch" when it answers another request: the flow stays for the real answer.
   */
  takeFlow(handle: string, answer: { provider: string; state: string | null }): Promise<StartedFlow | "mismatch" | undefined>;
  offerLink(link: PendingLink): Promise<string>;
  /** The link, left in place (a mistyped password may try again, within the sign-in limits). */
  peekLink(ticket: string): Promise<PendingLink | undefined>;
  /** Stores the link with `link.mailTokenHash` for the ticket's full lifetime again; false when the ticket ended meanwhile. */
  mailed(ticket: string, link: PendingLink): Promise<boolean>;
  /** True for the one caller that ended the ticket. */
  consumeLink(ticket: string): Promise<boolean>;
}

const flowKey = (handle: string) => `social:flow:${hashSessionSecret(handle)}`;
const linkKey = (ticket: string) => `social:link:${hashSessionSecret(ticket)}`;

function parsed<T>(json: string | null): T | undefined {
  return json === null ? undefined : (JSON.parse(json) as T);
}

export function createPendingFlows(deps: { redis: RedisClient; ttlMs: number }): PendingFlows {
  const { redis } = deps;
  async function store(key: (handle: string) => string, value: unknown): Promise<string> {
    const handle = randomBytes(32).toString("base64url");
    await redis.set(key(handle), JSON.stringify(value), "PX", deps.ttlMs);
    return handle;
  }
  return {
    start: (flow) => store(flowKey, flow),
    async takeFlow(handle, answer) {
      if (!TOKEN_FORMAT.test(handle)) return undefined;
      const flow = parsed<StartedFlow>(await redis.get(flowKey(handle)));
      if (!flow) return undefined;
      if (flow.provider !== answer.provider || flow.state !== answer.state) return "mismatch";
      // A flow never changes once stored: of two callbacks that both matched it, GETDEL gives it to one.
      return parsed<StartedFlow>(await redis.getdel(flowKey(handle)));
    },
    offerLink: (link) => store(linkKey, link),
    async peekLink(ticket) {
      return TOKEN_FORMAT.test(ticket) ? parsed<PendingLink>(await redis.get(linkKey(ticket))) : undefined;
    },
    async mailed(ticket, link) {
      // XX: a ticket consumed (or expired) since it was read is not brought back.
      return TOKEN_FORMAT.test(ticket) && (await redis.set(linkKey(ticket), JSON.stringify(link), "PX", deps.ttlMs, "XX")) === "OK";
    },
    async consumeLink(ticket) {
      return TOKEN_FORMAT.test(ticket) && (await redis.del(linkKey(ticket))) === 1;
    },
  };
}
