import { AsyncLocalStorage } from "node:async_hooks";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/**
 * The signal of the RPC a piece of work serves: Connect aborts it at the caller's deadline
 * (`grpc-timeout`, `connect-timeout-ms`) or when the caller goes away. It travels in async context,
 * so the database pool can see it without every store passing it down.
 */
const current = new AsyncLocalStorage<AbortSignal>();

export const currentRequestSignal = (): AbortSignal | undefined => current.getStore();

/**
 * Runs `work` free of the current call's deadline: for what must happen once the call has had its
 * effect (its audit row, applying a committed revocation), whether or not the caller still waits.
 */
export const outlivingCall = <T>(work: () => Promise<T>): Promise<T> => current.exit(work);

/** Runs the rest of the call with its signal in context; the pool reads it in `acquireWithin`. */
export const deadlineInterceptor: Interceptor = (next) => (req) => current.run(req.signal, () => next(req));

/** Why a call's signal fired, as the client-safe error the call ends with. */
function abortedCall(signal: AbortSignal): ConnectError {
  if (signal.reason instanceof ConnectError) return signal.reason;
  return new ConnectError("the caller went away", Code.Canceled);
}

type Callback<T> = (error: Error | undefined, client: T | undefined, release: () => void) => void;

/** Starts waiting for a connection; returns how to leave the queue again. */
type Acquire<T> = (callback: Callback<T>) => () => void;

/**
 * Waits for `acquire` no longer than the current call's signal allows. A caller whose deadline passed
 * (or who left) while waiting for a database connection leaves the queue at once instead of holding
 * its place until the pool's connection timeout; a connection that still comes goes straight back.
 */
export function acquireWithin<T>(acquire: Acquire<T>, signal: AbortSignal, callback: Callback<T>): void {
  if (signal.aborted) {
    callback(abortedCall(signal), undefined, () => {});
    return;
  }
  let settled = false;
  let withdraw = () => {};
  const onAbort = () => {
    settled = true;
    withdraw();
    callback(abortedCall(signal), undefined, () => {});
  };
  signal.addEventListener("abort", onAbort, { once: true });
  withdraw = acquire((error, client, release) => {
    signal.removeEventListener("abort", onAbort);
    if (settled) {
      if (client) release();
      return;
    }
    settled = true;
    callback(error, client, release);
  });
}
