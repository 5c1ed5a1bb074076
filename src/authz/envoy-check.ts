import { headerMap, splitTarget, type CheckInput } from "./check-input.js";
import type { Decision } from "./decision.js";
import type { Verdict } from "./verdict.js";

/** envoy.service.auth.v3.CheckRequest as @grpc/proto-loader decodes it (keepCase, defaults off). */
export interface EnvoyCheckRequest {
  attributes?: {
    request?: {
      http?: {
        method?: string;
        path?: string;
        host?: string;
        headers?: Record<string, string>;
        header_map?: { headers?: Array<{ key?: string; value?: string; raw_value?: Uint8Array }> };
      };
    };
  };
}

interface HeaderValueOption {
  header: { key: string; value: string };
  append_action: "OVERWRITE_IF_EXISTS_OR_ADD";
}

/** google.protobuf.Struct with string values, as @grpc/proto-loader encodes it: protobufjs's built-in Struct names its fields in camelCase even under keepCase. */
interface StringStruct {
  fields: Record<string, { stringValue: string }>;
}

/** envoy.service.auth.v3.CheckResponse in the shape @grpc/proto-loader encodes. */
export interface EnvoyCheckResponse {
  status: { code: number; message: string };
  /** Envoy files it under envoy.filters.http.ext_authz, where the access log reads the decision. */
  dynamic_metadata: StringStruct;
  ok_response?: { headers: HeaderValueOption[]; headers_to_remove: string[] };
  denied_response?: { status: { code: number }; headers: HeaderValueOption[]; body: string };
}

export class InvalidCheckRequest extends Error {
  override name = "InvalidCheckRequest";
}

// google.rpc.Code values; Envoy allows on OK and treats any other code as a denial.
const RPC_CODE: Record<number, number> = { 200: 0, 302: 16, 401: 16, 403: 7, 503: 14 };

const overwrite = ([key, value]: [string, string]): HeaderValueOption => ({ header: { key, value }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" });

/** Reduces Envoy's attribute context to what the pipeline reads; throws InvalidCheckRequest if Envoy could not have sent it. */
export function fromEnvoyRequest(request: EnvoyCheckRequest): CheckInput {
  const http = request.attributes?.request?.http;
  if (!http) throw new InvalidCheckRequest("attributes.request.http is required");
  if (!http.method || !http.path) throw new InvalidCheckRequest("attributes.request.http.method and .path are required");
  // With encode_raw_headers Envoy fills header_map (values possibly in raw_value) instead of headers.
  const raw = http.header_map?.headers;
  const pairs: Array<[string, string]> = raw
    ? raw.map((h) => [h.key ?? "", h.value || Buffer.from(h.raw_value ?? []).toString("latin1")])
    : Object.entries(http.headers ?? {});
  const { path, query } = splitTarget(http.path);
  return { method: http.method.toUpperCase(), path, query, host: http.host ?? "", headers: headerMap(pairs) };
}

const decisionMetadata = (decision: Decision): StringStruct => ({
  fields: { decision: { stringValue: decision.allow ? "allow" : "deny" }, reason: { stringValue: decision.reason } },
});

export function toEnvoyResponse(verdict: Verdict, decision: Decision): EnvoyCheckResponse {
  const dynamic_metadata = decisionMetadata(decision);
  if (verdict.status === 200) {
    return {
      status: { code: 0, message: "" },
      dynamic_metadata,
      ok_response: { headers: verdict.upstreamHeaders.map(overwrite), headers_to_remove: verdict.removeHeaders },
    };
  }
  const reason = verdict.clientHeaders.find(([name]) => name === "x-auth-reason")?.[1] ?? "denied";
  return {
    status: { code: RPC_CODE[verdict.status] ?? 7, message: reason },
    dynamic_metadata,
    denied_response: { status: { code: verdict.status }, headers: verdict.clientHeaders.map(overwrite), body: verdict.body },
  };
}
