import type { SubscriberConnection } from "../platform/redis.js";
import { parseSessionEvent, REVOCATION_CHANNEL, type SessionEvent } from "../contract/session-events.js";
import type { Logger } from "../platform/log.js";

export interface RevocationListener {
  /** True only while subscribed: events published while this is false may have been lost. */
  live(): boolean;
  close(): Promise<void>;
}

export interface RevocationListenerDeps {
  /** A connection of its own (subscribed connections take no other commands), created with autoResubscribe off. */
  subscriber: SubscriberConnection;
  /** A session was revoked, or lives on with stale cached state (the level): either way its cache entry is wrong. */
  onSessionEvent(event: SessionEvent): void;
  /** Called once each (re)subscription is confirmed: anything cached before it may have missed events. */
  onResync(): void;
  /** Called on every close of the subscriber connection: events may be missed until the next resync. */
  onLost(): void;
  log: Logger;
}

/** Follows the auth service's revocation channel, resubscribing (and resyncing) on every reconnect. */
export function createRevocationListener(deps: RevocationListenerDeps): RevocationListener {
  const { subscriber, log } = deps;
  let subscribed = false;

  const subscribe = () => {
    subscriber.subscribe(REVOCATION_CHANNEL).then(
      () => {
        deps.onResync();
        subscribed = true;
        log.info({ channel: REVOCATION_CHANNEL }, "revocation events followed; caches flushed");
      },
      (error: Error) => log.warn({ err: error.message }, "could not subscribe to revocation events; will retry on reconnect"),
    );
  };
  const lost = () => {
    if (subscribed) log.warn("revocation events lost; caches bypassed until resubscribed");
    subscribed = false;
    deps.onLost();
  };

  subscriber.on("message", (channel: string, message: string) => {
    if (channel !== REVOCATION_CHANNEL) return;
    const event = parseSessionEvent(message);
    if (event) deps.onSessionEvent(event);
    else log.warn({ message: message.slice(0, 200) }, "ignored malformed revocation event");
  });
  subscriber.on("ready", subscribe);
  subscriber.on("close", lost);
  if (subscriber.status === "ready") subscribe();

  return {
    live: () => subscribed,
    async close() {
      subscriber.off("ready", subscribe);
      subscriber.off("close", lost);
      subscribed = false;
      await subscriber.quit().catch(() => subscriber.disconnect());
    },
  };
}
