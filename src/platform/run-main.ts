import { ConfigError } from "./config.js";
import type { Logger } from "./log.js";

export interface Running {
  log: Logger;
  stop(): Promise<void>;
}

/** A configuration problem exits 2 with the message naming each variable; anything else exits 1 with its message (no stack). */
function exitFailed(name: string, failure: string, error: unknown): never {
  if (error instanceof ConfigError) {
    process.stderr.write(`${name}: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`${name} ${failure}: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

/** Runs a long-lived entry point the same way for every process: start-up failures as exitFailed, SIGINT/SIGTERM stop it once. */
export function runMain(name: string, start: () => Promise<Running>): void {
  start().then(
    (running) => {
      let stopping = false;
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) return;
        stopping = true;
        running.log.info({ signal }, "shutting down");
        running.stop().finally(() => process.exit(0));
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    },
    (error: unknown) => exitFailed(name, "failed to start", error),
  );
}

/** Runs a one-shot entry point (migrations): exit 0 when it is done, else as exitFailed. */
export function runOnce(name: string, work: () => Promise<void>): void {
  work().then(
    () => process.exit(0),
    (error: unknown) => exitFailed(name, "failed", error),
  );
}
