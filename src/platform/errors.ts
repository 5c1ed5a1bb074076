import { Code, ConnectError } from "@connectrpc/connect";

/**
 * The closed set of domain error kinds. Services throw `DomainError`; the error
 * interceptor turns it into a client-facing code through ERROR_CODES, the one
 * table of that mapping. `cause` is kept for logs and never sent to a client.
 */
export type ErrorKind =
  | "invalid_argument"
  | "unauthenticated"
  | "permission_denied"
  | "not_found"
  | "failed_precondition"
  | "resource_exhausted"
  | "unavailable"
  | "deadline_exceeded"
  | "internal";

export const ERROR_CODES: Record<ErrorKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  not_found: Code.NotFound,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  deadline_exceeded: Code.DeadlineExceeded,
  internal: Code.Internal,
};

export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DomainError";
  }
}

export const invalidArgument = (message: string) => new DomainError("invalid_argument", message);

/** One message for every credential failure, so answers never tell which part was wrong. */
export const INVALID_CREDENTIALS = "invalid email or password";
export const invalidCredentials = () => new DomainError("unauthenticated", INVALID_CREDENTIALS);

const UNAVAILABLE_ERRNOS = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH"]);

/**
 * Classifies infrastructure faults (a database or Redis that is down or
 * restarting) as UNAVAILABLE so clients retry, instead of INTERNAL.
 */
export function isUnavailableFault(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") {
    if (UNAVAILABLE_ERRNOS.has(code)) return true;
    // SQLSTATE class 08 (connection exception), 57P01..57P03 (shutdown, cannot connect now).
    if (/^08/.test(code) || /^57P0[123]$/.test(code)) return true;
  }
  const message = error.message;
  return (
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Connection is closed|Stream isn't writeable|MaxRetriesPerRequest|Command timed out|server closed the connection|query_timeout|Query read timeout|Cluster isn't ready|CLUSTERDOWN|TRYAGAIN|Failed to refresh slots cache|Too many Cluster redirections|None of startup nodes is available/i.test(
      message,
    ) || (error.cause !== undefined && error.cause !== error && isUnavailableFault(error.cause))
  );
}

/** What a client sees for any error: domain errors as mapped, faults without internals. */
export function toConnectError(error: unknown): { error: ConnectError; fault: boolean } {
  if (error instanceof DomainError) {
    return { error: new ConnectError(error.message, ERROR_CODES[error.kind]), fault: error.kind === "internal" };
  }
  if (error instanceof ConnectError) {
    // Raised by the framework itself (malformed body, too large, deadline): already client-safe.
    return { error: new ConnectError(error.rawMessage, error.code), fault: error.code === Code.Internal };
  }
  if (isUnavailableFault(error)) {
    return { error: new ConnectError("service temporarily unavailable, retry", Code.Unavailable), fault: true };
  }
  return { error: new ConnectError("internal error", Code.Internal), fault: true };
}
