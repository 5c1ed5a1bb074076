import { createServer, type Server } from "node:http";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ensureOtelCollector } from "../../src/ops/tools.js";
import { canConnect, findFreePort } from "../../src/stack/ports.js";
import { createProcessManager, isAlive } from "../../src/stack/processes.js";
import { waitUntil } from "../../src/stack/readiness.js";
import { REPO } from "./compose-file.js";

/** One span as the collector passed it on, flattened: ids in hex, attributes as plain values. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  service: string;
  attributes: Record<string, string | number | boolean>;
}

export interface TestCollector {
  /** OTLP/HTTP base URL, as OTEL_EXPORTER_OTLP_ENDPOINT takes it. */
  endpoint: string;
  /** Its traces URL, as Envoy's tracer takes it. */
  tracesUrl: string;
  spans(): ReceivedSpan[];
  close(): Promise<void>;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpJson {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: Array<{ spans?: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string; kind?: number; attributes?: OtlpAttribute[] }> }>;
  }>;
}

const valueOf = (v: OtlpValue) => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue ?? ""));
const attributesOf = (list: OtlpAttribute[] = []) => Object.fromEntries(list.map((a) => [a.key, valueOf(a.value)]));

/**
 * The real OpenTelemetry Collector (src/ops/otelcol, built once from the Go module proxy) on a free
 * port, receiving OTLP/HTTP from the services and Envoy. It decodes what they send and passes each
 * batch on as OTLP/JSON (its otlphttp exporter, encoding json) to a listener here, which keeps the
 * spans for the test to read. The collector runs as a child process stopped by pid, even on failure.
 */
export async function startTestCollector(): Promise<TestCollector> {
  const binary = ensureOtelCollector(REPO);
  const dir = mkdtempSync(path.join(tmpdir(), "otelcol-"));
  const received: ReceivedSpan[] = [];
  const sink: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const batch = JSON.parse(Buffer.concat(chunks).toString("utf8")) as OtlpJson;
      for (const resource of batch.resourceSpans ?? []) {
        const service = String(attributesOf(resource.resource?.attributes)["service.name"] ?? "");
        for (const scope of resource.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            received.push({ traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId ?? "", name: span.name, kind: span.kind ?? 0, service, attributes: attributesOf(span.attributes) });
          }
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
  const sinkPort = (sink.address() as { port: number }).port;
  const port = await findFreePort();
  const config = path.join(dir, "collector.yaml");
  writeFileSync(
    config,
    [
      "receivers:",
      "  otlp:",
      "    protocols:",
      `      http: { endpoint: "127.0.0.1:${port}" }`,
      "exporters:",
      "  otlphttp:",
      `    endpoint: "http://127.0.0.1:${sinkPort}"`,
      "    encoding: json",
      "    compression: none",
      "    retry_on_failure: { enabled: false }",
      "service:",
      // No listener of its own: its metrics port (8888) would collide with a second collector's.
      "  telemetry: { metrics: { level: none }, logs: { level: warn } }",
      "  pipelines:",
      "    traces: { receivers: [otlp], exporters: [otlphttp] }",
      "",
    ].join("\n"),
  );
  const runDir = path.join(dir, "run");
  mkdirSync(runDir);
  const procs = createProcessManager(runDir);
  const logFile = path.join(dir, "collector.log");
  const close = async () => {
    await procs.stopAll();
    await new Promise<void>((resolve) => sink.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    procs.start({ name: "otelcol", command: binary, args: ["--config", `file:${config}`], cwd: dir, logFile, stopSignal: "SIGTERM" });
    await waitUntil(() => canConnect(port, "127.0.0.1"), { what: "OpenTelemetry Collector", timeoutMs: 15_000, logFile, alive: () => isAlive(procs.pid("otelcol") ?? -1) });
  } catch (error) {
    await close();
    throw error;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  return { endpoint, tracesUrl: `${endpoint}/v1/traces`, spans: () => [...received], close };
}
