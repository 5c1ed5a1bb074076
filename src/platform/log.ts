import { pino, type Logger, type DestinationStream } from "pino";

export type { Logger };

/** Paths never written to logs, fixed at creation (pino redaction). */
const REDACT = [
  "password",
  "*.password",
  "*.currentPassword",
  "*.newPassword",
  "*.refreshToken",
  "*.accessToken",
  "*.token",
  "authorization",
  "*.authorization",
  "cookie",
  "*.cookie",
  "headers.authorization",
  "headers.cookie",
];

/** A JSON logger; `service` names the process in every line (auth, authz, mail-worker). */
export function createLogger(level: string, service = "auth", destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service },
      redact: { paths: REDACT, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
