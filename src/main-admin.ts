import { ADMIN_USAGE, parseAdminCommand, runAdminCommand, UsageError } from "./auth/admin/admin-cli.js";
import { loadAuthConfig } from "./auth/config.js";
import { ConfigError } from "./platform/config.js";
import { DomainError } from "./platform/errors.js";
import { createLogger } from "./platform/log.js";

/** `npm run admin -- <command>`: exit 0 done, 1 refused or failed (the reason on stderr), 2 usage or configuration. */
async function main(): Promise<number> {
  try {
    const command = parseAdminCommand(process.argv.slice(2));
    const config = loadAuthConfig(process.env);
    process.stdout.write(`${await runAdminCommand(command, config, createLogger(config.logLevel, "admin"))}\n`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`admin: ${error.message}\n${ADMIN_USAGE}\n`);
      return 2;
    }
    if (error instanceof ConfigError || (error instanceof DomainError && error.kind === "invalid_argument")) {
      process.stderr.write(`admin: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`admin: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

main().then((code) => process.exit(code));
