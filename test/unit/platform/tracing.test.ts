import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/platform/config.js";
import { createDb } from "../../../src/platform/db.js";
import { traceDb } from "../../../src/platform/traced-db.js";
import { traceRedis } from "../../../src/platform/traced-redis.js";
import { createTracing, loadTracingConfig, tracingOff } from "../../../src/platform/tracing.js";

const problemsOf = (env: Record<string, string>) => {
  try {
    loadTracingConfig(env, "auth");
  } catch (error) {
    return (error as ConfigError).problems;
  }
  return [];
};

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";

async function traced() {
  const exporter = new InMemorySpanExporter();
  const tracing = await createTracing({ tracesUrl: "http://127.0.0.1:1/v1/traces", serviceName: "auth", sampleRatio: 1 }, { processor: new SimpleSpanProcessor({ exporter }) });
  return { tracing, spans: () => exporter.getFinishedSpans() };
}

describe("tracing configuration", () => {
  it("is off unless an OTLP endpoint is set, and reads the spec's variables", () => {
    expect(loadTracingConfig({}, "auth")).toBeUndefined();
    expect(loadTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" }, "auth")).toEqual({ tracesUrl: "http://collector:4318/v1/traces", serviceName: "auth", sampleRatio: 1 });
    expect(
      loadTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://b:4318/traces", OTEL_SERVICE_NAME: "auth-eu", OTEL_TRACES_SAMPLER_ARG: "0.25" }, "auth"),
    ).toEqual({ tracesUrl: "http://b:4318/traces", serviceName: "auth-eu", sampleRatio: 0.25 });
  });

  it("names each bad variable", () => {
    expect(problemsOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318", OTEL_TRACES_SAMPLER_ARG: "2" })).toEqual([
      "OTEL_EXPORTER_OTLP_ENDPOINT must use http: or https://, got collector://",
      'OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1, got "2"',
    ]);
    expect(problemsOf({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "not a url" })).toEqual(["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is not a valid URL"]);
  });
});

describe("spans", () => {
  it("continue the caller's W3C trace, with the request id on the server span and every span under it", async () => {
    const { tracing, spans } = await traced();
    const carrier = (name: string) => (name === "traceparent" ? `00-${TRACE_ID}-${PARENT_ID}-01` : undefined);
    await tracing.serve("auth.v1.AuthService/SignIn", carrier, "req-1", async (span) => {
      span.set({ "rpc.method": "SignIn" });
      await tracing.client("HMGET", { "db.system.name": "redis" }, async () => {});
      await expect(tracing.client("SELECT", { "db.system.name": "postgresql" }, () => Promise.reject(new Error("connection refused")))).rejects.toThrow();
    });
    const [redis, pg, server] = spans();
    expect(server?.spanContext().traceId).toBe(TRACE_ID);
    expect(server?.parentSpanContext?.spanId).toBe(PARENT_ID);
    expect(server?.attributes).toEqual({ "request.id": "req-1", "rpc.method": "SignIn" });
    expect(server?.status.code).toBe(0);
    for (const child of [redis, pg]) {
      expect(child?.spanContext().traceId).toBe(TRACE_ID);
      expect(child?.parentSpanContext?.spanId).toBe(server?.spanContext().spanId);
      expect(child?.attributes["request.id"]).toBe("req-1");
    }
    expect(pg?.status).toEqual({ code: 2, message: "connection refused" });
    await tracing.shutdown();
  });

  it("start a new trace without a traceparent, keep out of one the caller did not sample, and mark our faults", async () => {
    const { tracing, spans } = await traced();
    await tracing.serve("Check", () => undefined, "req-2", async (span) => span.fault());
    await tracing.serve("Check", (name) => (name === "traceparent" ? `00-${TRACE_ID}-${PARENT_ID}-00` : undefined), "req-3", async () => {});
    expect(spans()).toHaveLength(1);
    expect(spans()[0]?.spanContext().traceId).not.toBe(TRACE_ID);
    expect(spans()[0]?.status.code).toBe(2);
    await tracing.shutdown();
  });

  it("start a trace of their own for a malformed, oversized or all-zero traceparent", async () => {
    const { tracing, spans } = await traced();
    for (const hostile of ["garbage", `00-${"f".repeat(10_000)}-${PARENT_ID}-01`, `00-${"0".repeat(32)}-${PARENT_ID}-01`, `ff-${TRACE_ID}-${PARENT_ID}-01`]) {
      await tracing.serve("Check", (name) => (name === "traceparent" ? hostile : undefined), "req-4", async () => {});
    }
    expect(spans()).toHaveLength(4);
    for (const span of spans()) {
      expect(span.parentSpanContext).toBeUndefined();
      expect(span.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(span.spanContext().traceId).not.toBe(TRACE_ID);
    }
    await tracing.shutdown();
  });

  it("make none for work outside a request (a sweep, a scrape)", async () => {
    const { tracing, spans } = await traced();
    expect(await tracing.client("PING", {}, async () => "PONG")).toBe("PONG");
    expect(spans()).toEqual([]);
    await tracing.shutdown();
  });

  it("cost nothing when off: the pools and the client are not wrapped", async () => {
    expect(await createTracing(undefined)).toBe(tracingOff);
    const db = createDb({ writeUrl: "postgres://127.0.0.1:1/none" });
    const query = db.write.query;
    expect(traceDb(db, tracingOff).write.query).toBe(query);
    const redis = new Redis({ lazyConnect: true });
    const send = redis.sendCommand;
    expect(traceRedis(redis, tracingOff).sendCommand).toBe(send);
    await db.close();
    redis.disconnect();
  });
});
