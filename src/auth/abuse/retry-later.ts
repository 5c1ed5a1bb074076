import type { HandlerContext } from "@connectrpc/connect";
import { DomainError } from "../../platform/errors.js";

/**
 * The refusal for any spent budget or lock. RFC 9110 10.2.3: `retry-after` in
 * seconds; the message carries the same number for clients that only see it.
 */
export function retryLater(ctx: HandlerContext, ms: number): DomainError {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  ctx.responseHeader.set("retry-after", String(seconds));
  return new DomainError("resource_exhausted", `too many attempts; retry after ${seconds} seconds`);
}
