import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestAuth, newUser, startTestAuth } from "../../support/auth.js";
import { type TestAuthz, startTestAuthz } from "../../support/authz.js";
import { metricsRead } from "../../support/metric-names.js";

let auth: TestAuth;
let authz: TestAuthz;

beforeAll(async () => {
  auth = await startTestAuth();
  authz = await startTestAuthz(auth);
});
afterAll(async () => {
  await authz?.close();
  await auth?.close();
});

/** Names a Prometheus scrape of this text yields: a histogram is its _bucket, _sum and _count series. */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${name}${suffix}`);
    else if (type === "summary") for (const suffix of ["", "_sum", "_count"]) names.add(`${name}${suffix}`);
    else names.add(name as string);
  }
  return names;
}

const sample = (text: string, series: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe("the metrics deploy/prometheus and deploy/grafana read", () => {
  it("are all exported by a running auth service or authz server", async () => {
    const { tokens } = await newUser(auth.client);
    await authz.check({ headers: { authorization: `Bearer ${tokens.accessToken}` } });
    const authText = await (await fetch(`${auth.server.url}/metrics`)).text();
    const authzText = await authz.metrics();
    const exported = new Set([...exportedNames(authText), ...exportedNames(authzText)]);

    const read = metricsRead();
    // `up` is written by Prometheus itself for every target.
    read.delete("up");
    expect(read.size).toBeGreaterThan(10);
    const missing = [...read].filter(([name]) => !exported.has(name)).map(([name, where]) => `${name} (${where.join("; ")})`);
    expect(missing).toEqual([]);
  });

  it("report the live data tier: Redis and both pools up, replica lag measured, the outbox read", async () => {
    const text = await (await fetch(`${auth.server.url}/metrics`)).text();
    expect(sample(text, "auth_redis_up")).toBe(1);
    expect(sample(text, 'auth_postgres_up{pool="write"}')).toBe(1);
    expect(sample(text, 'auth_postgres_up{pool="read"}')).toBe(1);
    expect(sample(text, 'auth_postgres_pool_max{pool="write"}')).toBeGreaterThan(0);
    // The shared stack's replicas stream continuously: caught up, or a fraction of a second behind.
    const lag = sample(text, "auth_replica_lag_seconds");
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(5);
    expect(sample(text, 'auth_mail_outbox_messages{status="pending"}')).toBeGreaterThanOrEqual(0);
    expect(sample(text, "auth_mail_outbox_oldest_pending_seconds")).toBeGreaterThanOrEqual(0);
  });
});
