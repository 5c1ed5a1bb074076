import { ConfigError, EnvReader, LOG_LEVELS, POSTGRES_PROTOCOLS, type Env } from "../../platform/config.js";

/** The mail worker's settings: only what delivering the outbox needs. */
export interface MailWorkerConfig {
  /** DATABASE_URL: where the outbox lives. Required. */
  databaseUrl: string;
  /** SMTP_URL: smtp://user:pass@host:port or smtps://... Required. */
  smtpUrl: string;
  /** MAIL_FROM: the From of every message. Default "Auth <no-reply@localhost>". */
  from: string;
  /** MAIL_MAX_ATTEMPTS: sends tried before a message is marked failed. Default 8. */
  maxAttempts: number;
  /** MAIL_RETRY_BASE: the wait after the first failure; doubles with each attempt. Default 30s. */
  retryBaseMs: number;
  /** MAIL_POLL_INTERVAL: how often an idle worker looks for due mail. Default 2s. */
  pollIntervalMs: number;
  /** MAIL_CONCURRENCY: messages a worker sends at once. Default 4. */
  concurrency: number;
  /** SHUTDOWN_GRACE: on SIGTERM, how long the message being sent may take to finish. Default 10s. */
  shutdownGraceMs: number;
  /** LOG_LEVEL: default info. */
  logLevel: string;
}

export function loadMailWorkerConfig(env: Env): MailWorkerConfig {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);
  const config: MailWorkerConfig = {
    databaseUrl: read.url("DATABASE_URL", POSTGRES_PROTOCOLS),
    smtpUrl: read.url("SMTP_URL", ["smtp:", "smtps:"]),
    from: read.string("MAIL_FROM", "Auth <no-reply@localhost>"),
    maxAttempts: read.integer("MAIL_MAX_ATTEMPTS", 8, 1, 100),
    retryBaseMs: read.duration("MAIL_RETRY_BASE", "30s"),
    pollIntervalMs: read.duration("MAIL_POLL_INTERVAL", "2s"),
    concurrency: read.integer("MAIL_CONCURRENCY", 4, 1, 64),
    shutdownGraceMs: read.duration("SHUTDOWN_GRACE", "10s"),
    logLevel: read.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
