import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { GOOD_PASSWORD, uniqueEmail } from "../../support/auth.js";
import { startInstanceTopology, type InstanceTopology } from "../../support/gateway.js";
import { startTestCollector, type ReceivedSpan, type TestCollector } from "../../support/otel-collector.js";

const SERVER = 2;
const CLIENT = 3;

let collector: TestCollector;
let topo: InstanceTopology;

beforeAll(async () => {
  collector = await startTestCollector();
  topo = await startInstanceTopology({ auth: 1, authz: 1 }, { tracesEndpoint: collector.endpoint });
});
afterAll(async () => {
  await topo?.close();
  await collector?.close();
});

/** One Connect JSON call through the gateway; the answer and the request id Envoy gave it. */
async function call(method: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${topo.url}/auth.v1.AuthService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const requestId = res.headers.get("x-request-id") ?? "";
  expect(res.status, await res.clone().text()).toBe(200);
  expect(requestId).not.toBe("");
  return { body: (await res.json()) as Record<string, string>, requestId };
}

/** The trace of the request with this id, once every span named by `complete` has arrived (Envoy flushes every few seconds). */
async function traceOf(requestId: string, complete: (spans: ReceivedSpan[]) => boolean): Promise<ReceivedSpan[]> {
  let trace: ReceivedSpan[] = [];
  await vi.waitFor(
    () => {
      const root = collector.spans().find((s) => s.service === "gateway" && s.kind === SERVER && s.attributes["request.id"] === requestId);
      trace = root ? collector.spans().filter((s) => s.traceId === root.traceId) : [];
      expect(complete(trace), JSON.stringify(trace.map((s) => `${s.service} ${s.name}`))).toBe(true);
    },
    { timeout: 20_000, interval: 200 },
  );
  return trace;
}

const parentOf = (trace: ReceivedSpan[], span: ReceivedSpan) => trace.find((s) => s.spanId === span.parentSpanId);
/** Whether `ancestor` is on `span`'s path to the root. */
function descends(trace: ReceivedSpan[], span: ReceivedSpan, ancestor: ReceivedSpan): boolean {
  for (let up = parentOf(trace, span); up; up = parentOf(trace, up)) if (up.spanId === ancestor.spanId) return true;
  return false;
}

describe("tracing across the gateway, authz and auth (OTLP to a real OpenTelemetry Collector)", () => {
  const email = uniqueEmail("traced");

  it("follows one sign-in from Envoy's span to the auth SignIn span and its Postgres and Redis calls, one trace id, the request id on every span", async () => {
    await call("SignUp", { email, password: GOOD_PASSWORD });
    const { requestId } = await call("SignIn", { email, password: GOOD_PASSWORD });
    const isSignIn = (s: ReceivedSpan) => s.service === "auth" && s.name === "auth.v1.AuthService/SignIn";
    const trace = await traceOf(requestId, (spans) => spans.some(isSignIn) && spans.some((s) => s.attributes["db.system.name"] === "redis"));

    expect(new Set(trace.map((s) => s.traceId)).size).toBe(1);
    const root = trace.find((s) => s.parentSpanId === "" || !parentOf(trace, s))!;
    expect(root).toMatchObject({ service: "gateway", kind: SERVER });
    const signIn = trace.find(isSignIn)!;
    expect(signIn.kind).toBe(SERVER);
    expect(descends(trace, signIn, root)).toBe(true);
    const postgres = trace.filter((s) => s.attributes["db.system.name"] === "postgresql");
    const redis = trace.filter((s) => s.attributes["db.system.name"] === "redis");
    expect(postgres.length).toBeGreaterThan(0);
    expect(redis.length).toBeGreaterThan(0);
    for (const span of [...postgres, ...redis]) {
      expect(span).toMatchObject({ service: "auth", kind: CLIENT });
      expect(descends(trace, span, signIn)).toBe(true);
    }
    // Statements as written, parameters only: the password and its hash appear nowhere.
    expect(JSON.stringify(trace)).not.toContain(GOOD_PASSWORD);
    for (const span of trace) expect(span.attributes["request.id"], `${span.service} ${span.name}`).toBe(requestId);
    console.info(`sign-in trace: ${trace.length} spans (${trace.map((s) => `${s.service}:${s.name}`).join(", ")})`);
  });

  it("follows an authenticated call through Envoy's ext_authz span into the authz Check and its Redis reads, then to the auth RPC", async () => {
    const { body } = await call("SignIn", { email, password: GOOD_PASSWORD });
    const { requestId } = await call("GetMe", {}, { authorization: `Bearer ${body.accessToken}` });
    const isCheck = (s: ReceivedSpan) => s.service === "authz" && s.name === "envoy.service.auth.v3.Authorization/Check";
    const isGetMe = (s: ReceivedSpan) => s.service === "auth" && s.name === "auth.v1.AuthService/GetMe";
    const trace = await traceOf(requestId, (spans) => spans.some(isCheck) && spans.some(isGetMe) && spans.filter((s) => s.service === "gateway").length >= 2);

    const root = trace.find((s) => !parentOf(trace, s))!;
    expect(root).toMatchObject({ service: "gateway", kind: SERVER });
    const check = trace.find(isCheck)!;
    expect(check).toMatchObject({ kind: SERVER, attributes: { "authz.decision": "allow", "request.id": requestId } });
    // The Check's parent is Envoy's own span for the ext_authz call, under the request's.
    expect(parentOf(trace, check)).toMatchObject({ service: "gateway", kind: CLIENT });
    expect(descends(trace, check, root)).toBe(true);
    const reads = trace.filter((s) => s.service === "authz" && s.attributes["db.system.name"] === "redis");
    expect(reads.map((s) => s.name)).toContain("HMGET");
    for (const read of reads) expect(parentOf(trace, read)?.spanId).toBe(check.spanId);
    const getMe = trace.find(isGetMe)!;
    expect(descends(trace, getMe, root)).toBe(true);
    expect(descends(trace, getMe, check)).toBe(false);
    for (const span of trace.filter((s) => s.service !== "gateway")) expect(span.attributes["request.id"]).toBe(requestId);
    console.info(`authenticated call's trace: ${trace.length} spans (${trace.map((s) => `${s.service}:${s.name}`).join(", ")})`);
  });

  it("sends no span for the gateway's health checks", () => {
    expect(collector.spans().filter((s) => s.name.startsWith("grpc.health"))).toEqual([]);
  });
});
