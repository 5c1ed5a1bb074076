import { ConfigError } from "./config.js";
import type { Logger } from "./log.js";

export interface Running {
  log: Logger;
  stop(): Promise<void>;
}

/**
 * Runs an entry point the same way for every process: a configuration problem
 * exits 2 with the message naming each variable, any other start-up failure
 * exits 1 with its message (no stack), and SIGINT/SIGTERM stop it once.
 */
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
    (error: unknown) => {
      if (error instanceof ConfigError) {
        process.stderr.write(`${name}: ${error.message}\n`);
        process.exit(2);
      }
      process.stderr.write(`${name} failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
