import type { PasswordHasher } from "./password-hasher.js";

/**
 * The hasher with a count of the argon2 operations under way: each takes ~20-30 ms of a thread of
 * libuv's pool (4 threads), so more than that many at once means sign-ins are queueing for CPU.
 */
export function withHashLoad(inner: PasswordHasher): { hasher: PasswordHasher; inFlight(): number } {
  let inFlight = 0;
  const counted =
    <A extends unknown[], R>(work: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      inFlight += 1;
      try {
        return await work(...args);
      } finally {
        inFlight -= 1;
      }
    };
  return {
    hasher: {
      hash: counted((password: string) => inner.hash(password)),
      verify: counted((hash: string, password: string) => inner.verify(hash, password)),
      verifyDummy: counted((password: string) => inner.verifyDummy(password)),
      needsRehash: (hash) => inner.needsRehash(hash),
    },
    inFlight: () => inFlight,
  };
}
