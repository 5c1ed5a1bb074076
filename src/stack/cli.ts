import { fileURLToPath } from "node:url";
import { backupOnce, restoreStack } from "./backup-commands.js";
import { loadStackConfig } from "./config.js";
import { formatEndpoints, readStackState, startStack, stopDetachedStack } from "./stack.js";

const USAGE = `usage: tsx src/stack/cli.ts <command>
  up            start the stack in the foreground (Ctrl-C stops it)
  up --detach   start the stack and leave it running (stop with "down")
  down          stop a detached stack
  status        print endpoints and KEY=value lines; exit 1 unless every component runs
  backup [--type full|diff|incr]
                pgBackRest base backup of the running stack (default: diff; full when none exists)
  restore --to <time> [--from <dir>]
                point-in-time restore into STACK_DIR (stopped) from the backups of <dir>
                (default STACK_DIR itself); the next "up" runs the database as it was at <time>
Environment: STACK_DIR (default .stack/), STACK_REPLICAS, STACK_REDIS=node|cluster, STACK_*_PORT(S) (see src/stack/config.ts)`;

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

async function main(argv: string[]): Promise<number> {
  const [command, ...flags] = argv;
  const config = loadStackConfig(process.env, REPO_ROOT);
  const log = (line: string) => process.stderr.write(`[stack] ${line}\n`);

  switch (command) {
    case "up": {
      const detach = flags.includes("--detach") || flags.includes("-d");
      const started = Date.now();
      const stack = await startStack({ dir: config.dir, replicas: config.replicas, redis: config.redis, ports: config.ports, log });
      process.stdout.write(formatEndpoints(stack));
      log(`up in ${((Date.now() - started) / 1000).toFixed(1)} s; state in ${config.dir}`);
      if (detach) {
        stack.detach();
        log(`detached; stop with: tsx src/stack/cli.ts down`);
        return 0;
      }
      log("running in the foreground; Ctrl-C stops everything");
      // The process manager's signal hooks stop every component and exit.
      return new Promise<number>(() => {});
    }
    case "down": {
      const stopped = await stopDetachedStack(config.dir, log);
      log(stopped ? "stopped" : `no stack running in ${config.dir}`);
      return 0;
    }
    case "status": {
      const state = readStackState(config.dir);
      if (!state) {
        process.stderr.write(`no stack running in ${config.dir}\n`);
        return 1;
      }
      process.stdout.write(formatEndpoints(state.urls));
      if (state.down.length > 0) {
        process.stderr.write(`degraded: not running: ${state.down.join(", ")}\n`);
        return 1;
      }
      return 0;
    }
    case "backup":
      await backupOnce(config.dir, flags, log);
      return 0;
    case "restore":
      await restoreStack(config.dir, flags, log);
      return 0;
    default:
      process.stderr.write(`${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
