import { randomUUID } from "node:crypto";
import type { Client } from "@connectrpc/connect";
import { Redis } from "ioredis";
import type { AuthService } from "../src/gen/auth/v1/auth_pb.js";
import { checkRequest, createCheckClient } from "./check-rows.js";
import { measureRow, type Measure, type Row } from "./table.js";

export interface RevocationLoad {
  client: Client<typeof AuthService>;
  /** An authz instance with its default caches, so the session is cached when SignOut runs. */
  authz: string;
  redisUrl: string;
  email: string;
  password: string;
  rounds: number;
  samplesPerRound: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/**
 * From SignOut's answer to the first Check that denies the session's token (Checks back to back,
 * each after the last answered, the session cached beforehand), against the floor of any
 * event-driven revocation: PUBLISH sent to the message arriving at a bare subscriber.
 */
export async function revocationRow(load: RevocationLoad): Promise<Row> {
  const checks = createCheckClient(load.authz);
  const publisher = new Redis(load.redisUrl);
  const subscriber = new Redis(load.redisUrl);
  const channel = `bench-${randomUUID()}`;
  try {
    await subscriber.subscribe(channel);
    // A Check that still allows once SignOut has returned is a stale allow: counted as a failure.
    const revoke = async (): Promise<{ ms: number; stale: number }> => {
      const { accessToken } = await load.client.signIn({ email: load.email, password: load.password });
      const headers = { authorization: `Bearer ${accessToken}` };
      const request = checkRequest(headers);
      if ((await checks.check(request)).status.code !== 0) throw new Error("a fresh session was denied before SignOut");
      await load.client.signOut({}, { headers });
      const returned = performance.now();
      let stale = 0;
      while ((await checks.check(request)).status.code === 0) {
        stale++;
        if (performance.now() - returned > 10_000) throw new Error("the Check still allowed a signed-out session 10 s after SignOut");
      }
      return { ms: performance.now() - returned, stale };
    };
    const publish = async (): Promise<{ ms: number; stale: number }> => {
      const arrived = new Promise<number>((resolve) => subscriber.once("message", () => resolve(performance.now())));
      const sent = performance.now();
      await publisher.publish(channel, "x");
      return { ms: (await arrived) - sent, stale: 0 };
    };
    const sample = async (once: () => Promise<{ ms: number; stale: number }>): Promise<Measure> => {
      const times: number[] = [];
      let stale = 0;
      for (let i = 0; i < load.samplesPerRound; i++) {
        const result = await once();
        times.push(result.ms);
        stale += result.stale;
      }
      return { value: median(times), failures: stale };
    };
    return await measureRow(
      { name: "revocation: SignOut returned -> first deny (ms)", ceiling: "bare Redis PUBLISH -> subscriber", unit: "ms", target: "one Check round trip (0 stale allows)" },
      load.rounds,
      () => sample(revoke),
      () => sample(publish),
    );
  } finally {
    checks.close();
    publisher.disconnect();
    subscriber.disconnect();
  }
}
