import { setTimeout as sleep } from "node:timers/promises";
import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../../src/gen/auth/v1/auth_pb.js";
import { GOOD_PASSWORD, connectTransport, uniqueEmail } from "../../support/auth.js";
import { startInstanceTopology, type InstanceTopology } from "../../support/gateway.js";

/**
 * A deploy, as an orchestrator does it: SIGTERM to one of two auth instances while clients keep
 * calling through Envoy. The instance drains (health NOT_SERVING, GOAWAY, in-flight work finished)
 * and Envoy moves to the other one: no request may fail, not even inside the health-check window.
 */
describe("SIGTERM to an auth instance under load through Envoy", () => {
  let topo: InstanceTopology;

  beforeAll(async () => {
    topo = await startInstanceTopology({ auth: 2, authz: 1 });
  });
  afterAll(async () => {
    await topo?.close();
  });

  it("costs no request when a second instance exists", async () => {
    const client = createClient(AuthService, connectTransport(topo.url));
    const email = uniqueEmail("drain");
    await client.signUp({ email, password: GOOD_PASSWORD });
    const { accessToken } = await client.signIn({ email, password: GOOD_PASSWORD });
    const headers = { authorization: `Bearer ${accessToken}`, "content-type": "application/json" };

    const outcomes: Array<{ at: number; ok: boolean; what: string }> = [];
    const started = performance.now();
    const RUN_MS = 6000;
    const worker = async (n: number) => {
      for (let i = 0; performance.now() - started < RUN_MS; i++) {
        // Sign-ins (argon2, slow enough to be in flight at the signal) beside cheap session reads.
        const signIn = (i + n) % 4 === 0;
        const what = signIn ? "SignIn" : "GetMe";
        try {
          const response = await fetch(`${topo.url}/auth.v1.AuthService/${what}`, {
            method: "POST",
            headers,
            body: signIn ? JSON.stringify({ email, password: GOOD_PASSWORD }) : "{}",
          });
          const body = await response.text();
          outcomes.push({ at: performance.now() - started, ok: response.status === 200, what: `${what} ${response.status} ${response.status === 200 ? "" : body.slice(0, 120)}` });
        } catch (error) {
          outcomes.push({ at: performance.now() - started, ok: false, what: `${what} ${(error as Error).message}` });
        }
      }
    };
    const load = Promise.all(Array.from({ length: 4 }, (_, n) => worker(n)));
    await sleep(1500);
    const stoppedAt = performance.now() - started;
    await topo.procs.stop("auth-0");
    const exitedAt = performance.now() - started;
    await load;

    const failed = outcomes.filter((o) => !o.ok);
    console.log(
      `SIGTERM to auth-0 under load through Envoy: ${outcomes.length} requests, ${failed.length} failed; drained and exited ${(exitedAt - stoppedAt).toFixed(0)} ms after the signal` +
        (failed.length > 0 ? ` (${[...new Set(failed.map((o) => o.what))].join(", ")})` : ""),
    );
    expect(failed.map((o) => `${o.what} at +${(o.at - stoppedAt).toFixed(0)} ms`)).toEqual([]);
    // Enough traffic after the signal for "none failed" to mean something.
    expect(outcomes.filter((o) => o.at > exitedAt).length).toBeGreaterThan(20);
  });
});
