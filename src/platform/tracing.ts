import { ROOT_CONTEXT, SpanKind, SpanStatusCode, createContextKey, trace, type Attributes, type Context, type TextMapGetter } from "@opentelemetry/api";
import type { Span, SpanProcessor } from "@opentelemetry/sdk-trace";
import { ConfigError, EnvReader, type Env } from "./config.js";

/**
 * OpenTelemetry tracing without the SDK's globals or auto-instrumentation: the spans are made by
 * our own seams (the Connect interceptor, the authz Check handler, the pg and Redis wrappers of
 * traced-db.ts and traced-redis.ts), which see every call whether the process runs under tsx or
 * as compiled dist/ JavaScript. Auto-instrumentation of ESM would need `node --import` with a
 * loader hook in every start command and patches whole modules; here nothing is patched but the
 * pools and clients a service hands over, and with tracing off nothing is wrapped at all.
 *
 * W3C traceparent in, OTLP/HTTP (protobuf) out, Envoy's x-request-id on every span.
 */

/** Envoy's x-request-id, as every span of a request carries it (Envoy's spans tag it the same: envoy.yaml). */
export const REQUEST_ID_ATTRIBUTE = "request.id";

export interface TracingConfig {
  /** OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces. */
  tracesUrl: string;
  serviceName: string;
  /** Share of new traces kept (a trace the caller sampled is always kept, one it dropped never). */
  sampleRatio: number;
}

/**
 * Tracing settings from env, pure; undefined (tracing off) unless an endpoint is set:
 *   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT  the full traces URL, or
 *   OTEL_EXPORTER_OTLP_ENDPOINT         its base (/v1/traces is appended), as the OpenTelemetry spec reads them
 *   OTEL_SERVICE_NAME                   default: the service's own name (auth, authz)
 *   OTEL_TRACES_SAMPLER_ARG             share of root traces kept, 0 to 1; default 1
 */
export function loadTracingConfig(env: Env, defaultServiceName: string): TracingConfig | undefined {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);
  const protocols = ["http:", "https:"];
  const full = read.optionalUrl("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", protocols);
  const base = read.optionalUrl("OTEL_EXPORTER_OTLP_ENDPOINT", protocols);
  const ratioText = read.string("OTEL_TRACES_SAMPLER_ARG", "1");
  const sampleRatio = /^(0(\.\d+)?|1(\.0+)?)$/.test(ratioText) ? Number(ratioText) : Number.NaN;
  if (Number.isNaN(sampleRatio)) read.report(`OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1, got "${ratioText}"`);
  if (problems.length > 0) throw new ConfigError(problems);
  const tracesUrl = full ?? (base ? `${base.replace(/\/+$/, "")}/v1/traces` : undefined);
  if (!tracesUrl) return undefined;
  return { tracesUrl, serviceName: read.string("OTEL_SERVICE_NAME", defaultServiceName), sampleRatio };
}

/** Reads one incoming header or metadata entry (traceparent, tracestate). */
export type TraceCarrier = (name: string) => string | undefined;

/** What a server's handler adds to its span. */
export interface ServerSpan {
  set(attributes: Attributes): void;
  /** Marks the span failed: our fault, not the caller's (a wrong password is not an error of the server). */
  fault(): void;
}

const NO_SPAN: ServerSpan = { set: () => {}, fault: () => {} };

export interface Tracing {
  /** False when off: callers then wrap nothing and pay nothing. */
  readonly enabled: boolean;
  /**
   * Runs `work` in a SERVER span that continues the caller's trace (W3C traceparent in `carrier`),
   * with the request id on it and on every span started beneath it.
   */
  serve<T>(name: string, carrier: TraceCarrier, requestId: string, work: (span: ServerSpan) => Promise<T>): Promise<T>;
  /** Runs `work` in a CLIENT span under the active one; with none active (background work, a scrape) it only runs `work`. */
  client<T>(name: string, attributes: Attributes, work: () => Promise<T>): Promise<T>;
  /** Exports what is buffered, then stops. */
  shutdown(): Promise<void>;
}

export const tracingOff: Tracing = {
  enabled: false,
  serve: (_name, _carrier, _requestId, work) => work(NO_SPAN),
  client: (_name, _attributes, work) => work(),
  shutdown: async () => {},
};

const kRequestId = createContextKey("request id");
const getter: TextMapGetter<TraceCarrier> = { get: (carrier, key) => carrier(key), keys: () => ["traceparent", "tracestate"] };

/** Puts the request id of the context a span starts in on that span: pg and Redis spans need not be told it. */
const requestIdProcessor: SpanProcessor = {
  onStart(span: Span, parent: Context) {
    const id = parent.getValue(kRequestId);
    if (typeof id === "string") span.setAttribute(REQUEST_ID_ATTRIBUTE, id);
  },
  onEnd: () => {},
  forceFlush: async () => {},
  shutdown: async () => {},
};

export interface TracingDeps {
  /** Where spans go instead of OTLP (tests of this module); default the OTLP/HTTP exporter. */
  processor?: SpanProcessor;
}

/** Off: tracingOff, and the SDK is never loaded (its modules cost a few hundred ms of every start). */
export async function createTracing(config: TracingConfig | undefined, deps: TracingDeps = {}): Promise<Tracing> {
  if (!config) return tracingOff;
  const [{ AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }, { OTLPTraceExporter }, { resourceFromAttributes }, { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider }] =
    await Promise.all([
      import("@opentelemetry/context-async-hooks"),
      import("@opentelemetry/core"),
      import("@opentelemetry/exporter-trace-otlp-proto"),
      import("@opentelemetry/resources"),
      import("@opentelemetry/sdk-trace"),
    ]);
  const contexts = new AsyncLocalStorageContextManager().enable();
  const propagator = new W3CTraceContextPropagator();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": config.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
    // The request id first: the exporting processor must see the span complete.
    spanProcessors: [requestIdProcessor, deps.processor ?? new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: config.tracesUrl }), scheduledDelayMillis: 1000 })],
  });
  const tracer = provider.getTracer("auth-platform");

  return {
    enabled: true,
    async serve(name, carrier, requestId, work) {
      const parent = propagator.extract(ROOT_CONTEXT, carrier, getter).setValue(kRequestId, requestId);
      const span = tracer.startSpan(name, { kind: SpanKind.SERVER }, parent);
      const handle: ServerSpan = { set: (attributes) => span.setAttributes(attributes), fault: () => span.setStatus({ code: SpanStatusCode.ERROR }) };
      try {
        return await contexts.with(trace.setSpan(parent, span), () => work(handle));
      } finally {
        span.end();
      }
    },
    async client(name, attributes, work) {
      const active = contexts.active();
      if (!trace.getSpan(active)?.isRecording()) return work();
      const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, active);
      try {
        return await contexts.with(trace.setSpan(active, span), work);
      } catch (error) {
        // A statement or command that failed is the dependency's error, whoever caused it.
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message.slice(0, 200) : "error" });
        throw error;
      } finally {
        span.end();
      }
    },
    async shutdown() {
      await provider.shutdown().catch(() => {});
      contexts.disable();
    },
  };
}
