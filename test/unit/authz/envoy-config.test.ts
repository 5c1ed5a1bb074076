import { readFileSync } from "node:fs";
import path from "node:path";
import protobuf from "protobufjs";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadEnvoyApi } from "../../support/envoy-api.js";
import { DEFAULT_PUBLIC_PREFIXES } from "../../../src/authz/config.js";
import { IDENTITY_HEADERS } from "../../../src/authz/verdict.js";
import { loadRateLimitConfig } from "../../../src/ratelimit/config.js";

const ENVOY_YAML = path.resolve(import.meta.dirname, "../../../envoy/envoy.yaml");
const TYPE_URL = "type.googleapis.com/";
const SCALARS: Record<string, (v: unknown) => boolean> = {
  string: (v) => typeof v === "string",
  bytes: (v) => typeof v === "string",
  bool: (v) => typeof v === "boolean",
  double: (v) => typeof v === "number" || (typeof v === "string" && !Number.isNaN(Number(v))),
  float: (v) => typeof v === "number" || (typeof v === "string" && !Number.isNaN(Number(v))),
};
const isInteger = (v: unknown) => (typeof v === "number" && Number.isInteger(v)) || (typeof v === "string" && /^-?\d+$/.test(v));
const camel = (name: string) => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Checks a YAML value against a message type the way Envoy's strict loader does: unknown fields,
 * wrong shapes, unknown `@type`s, two members of one oneof and deprecated fields are all errors.
 */
function validate(root: protobuf.Root, type: protobuf.Type, value: unknown, at: string, errors: string[]): void {
  const name = type.fullName.slice(1);
  switch (name) {
    case "google.protobuf.Any": {
      if (!isObject(value) || typeof value["@type"] !== "string") return void errors.push(`${at}: Any needs an @type`);
      const url = value["@type"];
      const inner = url.startsWith(TYPE_URL) ? root.lookup(url.slice(TYPE_URL.length)) : null;
      if (!(inner instanceof protobuf.Type)) return void errors.push(`${at}: unknown @type ${url}`);
      const { "@type": _, ...rest } = value;
      return validate(root, inner, rest, `${at}<${inner.name}>`, errors);
    }
    case "google.protobuf.Duration":
      if (typeof value !== "string" || !/^-?\d+(\.\d{1,9})?s$/.test(value)) errors.push(`${at}: duration must look like 0.25s, got ${JSON.stringify(value)}`);
      return;
    case "google.protobuf.Timestamp":
      if (typeof value !== "string") errors.push(`${at}: timestamp must be an RFC 3339 string`);
      return;
    case "google.protobuf.Struct":
      if (!isObject(value)) errors.push(`${at}: Struct must be a mapping`);
      return;
    case "google.protobuf.Value":
    case "google.protobuf.ListValue":
      return;
    case "google.protobuf.BoolValue":
      if (typeof value !== "boolean") errors.push(`${at}: must be a boolean`);
      return;
    case "google.protobuf.StringValue":
    case "google.protobuf.BytesValue":
      if (typeof value !== "string") errors.push(`${at}: must be a string`);
      return;
    case "google.protobuf.UInt32Value":
    case "google.protobuf.UInt64Value":
    case "google.protobuf.Int32Value":
    case "google.protobuf.Int64Value":
      if (!isInteger(value)) errors.push(`${at}: must be an integer`);
      return;
    case "google.protobuf.DoubleValue":
    case "google.protobuf.FloatValue":
      if (!SCALARS.double?.(value)) errors.push(`${at}: must be a number`);
      return;
  }
  if (!isObject(value)) return void errors.push(`${at}: ${name} must be a mapping`);
  const byName = new Map<string, protobuf.Field>();
  for (const field of type.fieldsArray) {
    byName.set(field.name, field);
    byName.set(camel(field.name), field);
  }
  const oneofsSeen = new Map<string, string>();
  for (const [key, child] of Object.entries(value)) {
    const field = byName.get(key);
    if (!field) {
      errors.push(`${at}.${key}: unknown field of ${name}`);
      continue;
    }
    if (field.options?.deprecated) errors.push(`${at}.${key}: deprecated field of ${name}`);
    if (field.partOf) {
      const other = oneofsSeen.get(field.partOf.name);
      if (other) errors.push(`${at}: ${key} and ${other} are both in oneof ${field.partOf.name}`);
      oneofsSeen.set(field.partOf.name, key);
    }
    field.resolve();
    const check = (item: unknown, where: string) => validateField(root, field, item, where, errors);
    if (field instanceof protobuf.MapField) {
      if (!isObject(child)) errors.push(`${at}.${key}: map must be a mapping`);
      else for (const [k, v] of Object.entries(child)) check(v, `${at}.${key}[${k}]`);
    } else if (field.repeated) {
      if (!Array.isArray(child)) errors.push(`${at}.${key}: must be a list`);
      else child.forEach((item, i) => check(item, `${at}.${key}[${i}]`));
    } else {
      check(child, `${at}.${key}`);
    }
  }
}

function validateField(root: protobuf.Root, field: protobuf.Field, value: unknown, at: string, errors: string[]): void {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return validate(root, resolved, value, at, errors);
  if (resolved instanceof protobuf.Enum) {
    const ok = typeof value === "string" ? value in resolved.values : Object.values(resolved.values).includes(value as number);
    if (!ok) errors.push(`${at}: ${JSON.stringify(value)} is not a value of ${resolved.fullName.slice(1)}`);
    return;
  }
  const scalar = SCALARS[field.type];
  if (scalar ? !scalar(value) : !isInteger(value)) errors.push(`${at}: ${JSON.stringify(value)} is not a ${field.type}`);
}

describe("envoy/envoy.yaml", () => {
  let root: protobuf.Root;
  let bootstrap: protobuf.Type;
  const errorsOf = (config: unknown) => {
    const errors: string[] = [];
    validate(root, bootstrap, config, "bootstrap", errors);
    return errors;
  };
  const config = () => parse(readFileSync(ENVOY_YAML, "utf8"), { maxAliasCount: -1 }) as Record<string, any>;
  const filterOf = (hcm: Record<string, any>, name: string) => hcm.http_filters.find((f: { name: string }) => f.name === name).typed_config;

  beforeAll(() => {
    root = loadEnvoyApi();
    bootstrap = root.lookupType("envoy.config.bootstrap.v3.Bootstrap");
  });

  it("is a valid v3 Bootstrap, every typed_config included", () => {
    expect(errorsOf(config())).toEqual([]);
  });

  it("wires ext_authz over gRPC, failing closed, with public routes exempt", () => {
    const hcm = config().static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    const filters = hcm.http_filters.map((f: { name: string }) => f.name);
    expect(filters).toEqual([
      "envoy.filters.http.cors",
      "envoy.filters.http.grpc_web",
      "envoy.filters.http.local_ratelimit",
      "envoy.filters.http.ratelimit",
      "envoy.filters.http.ext_authz",
      "envoy.filters.http.router",
    ]);
    const extAuthz = filterOf(hcm, "envoy.filters.http.ext_authz");
    expect(extAuthz).toMatchObject({ transport_api_version: "V3", failure_mode_allow: false, grpc_service: { envoy_grpc: { cluster_name: "authz" }, timeout: "1s" } });
    expect(extAuthz.with_request_body).toBeUndefined();
    const routes = hcm.route_config.virtual_hosts[0].routes as Array<Record<string, any>>;
    // The HTTPS redirect is exempt too, but it answers itself and sends nothing upstream.
    const exempt = routes
      .filter((r) => r.typed_per_filter_config?.["envoy.filters.http.ext_authz"]?.disabled && !r.redirect)
      .map((r) => r.match.path ?? r.match.prefix);
    // Envoy skips the Check exactly where the authz server would allow without identity anyway.
    // (A page has a GET and a POST route, with different retry policies.)
    expect([...new Set(exempt)].sort()).toEqual([...DEFAULT_PUBLIC_PREFIXES].sort());
    expect(JSON.stringify(hcm.access_log)).toContain("%REQ(X-REQUEST-ID)%");
    expect(JSON.stringify(hcm.access_log)).toContain("%DYNAMIC_METADATA(envoy.filters.http.ext_authz:decision)%");
  });

  it("drops client identity headers wherever the Check does not run, and trusts no client's x-envoy-* headers", () => {
    for (const listener of config().static_resources.listeners) {
      const hcm = listener.filter_chains[0].filters[0].typed_config;
      // Set but empty: no peer is internal, so Envoy strips every client's retry and timeout overrides.
      expect(hcm.internal_address_config, listener.name).toEqual({});
      // x_user_id is no x-user-id to the identity rules, but is to some upstream stacks: refused at the door.
      expect(hcm.common_http_protocol_options?.headers_with_underscores_action, listener.name).toBe("REJECT_REQUEST");
      for (const route of hcm.route_config.virtual_hosts[0].routes as Array<Record<string, any>>) {
        if (!route.typed_per_filter_config?.["envoy.filters.http.ext_authz"]?.disabled) continue;
        expect(route.request_headers_to_remove, JSON.stringify(route.match)).toEqual(IDENTITY_HEADERS);
      }
    }
  });

  it("retries a request that may have changed state only when it never reached a service", () => {
    const hcm = config().static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    const routes = hcm.route_config.virtual_hosts[0].routes as Array<Record<string, any>>;
    const SAFE_FOR_ANY = new Set(["connect-failure", "refused-stream", "reset-before-request"]);
    const forwarded = routes.filter((r) => r.route);
    expect(forwarded.length).toBeGreaterThan(10);
    for (const route of forwarded) {
      const conditions = String(route.route.retry_policy?.retry_on ?? "").split(",");
      expect(conditions.length, JSON.stringify(route.match)).toBeGreaterThan(0);
      const getOnly = (route.match.headers ?? []).some((h: any) => h.name === ":method" && h.string_match?.exact === "GET");
      if (!getOnly) for (const c of conditions) expect(SAFE_FOR_ANY.has(c), `${JSON.stringify(route.match)} retries on ${c}`).toBe(true);
      expect(route.route.retry_policy.retry_host_predicate[0].name).toBe("envoy.retry_host_predicates.previous_hosts");
    }
  });

  it("rate limits the public sign-in routes through the rate limit service, failing open, with a local flood guard", () => {
    const hcm = config().static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    expect(filterOf(hcm, "envoy.filters.http.ratelimit")).toMatchObject({
      domain: "gateway",
      failure_mode_deny: false,
      enable_x_ratelimit_headers: "DRAFT_VERSION_03",
      rate_limited_as_resource_exhausted: true,
      rate_limit_service: { transport_api_version: "V3", grpc_service: { envoy_grpc: { cluster_name: "ratelimit" } } },
    });
    expect(filterOf(hcm, "envoy.filters.http.local_ratelimit").token_bucket).toMatchObject({ fill_interval: "1s" });
    const routes = hcm.route_config.virtual_hosts[0].routes as Array<Record<string, any>>;
    const limited = Object.fromEntries(
      routes
        .filter((r) => r.route?.rate_limits)
        .map((r) => [r.match.path ?? r.match.prefix, r.route.rate_limits.map((l: { actions: Array<Record<string, any>> }) => l.actions.map((a) => a.generic_key?.descriptor_value ?? Object.keys(a)[0]))]),
    );
    // Each names the budget (RATE_LIMIT_GATEWAY_RULES' route) per client address and for the route as a whole.
    expect(limited).toEqual({
      "/auth.v1.AuthService/SignUp": [["signup", "remote_address"], ["signup"]],
      "/auth.v1.AuthService/SignIn": [["signin", "remote_address"], ["signin"]],
      "/auth.v1.AuthService/CompleteSignIn": [["complete-signin", "remote_address"], ["complete-signin"]],
      "/auth.v1.AuthService/RequestPasswordReset": [["password-reset", "remote_address"], ["password-reset"]],
      "/auth.v1.PasskeyService/BeginPasskeySignIn": [["signin", "remote_address"], ["signin"]],
      "/auth.v1.PasskeyService/CompletePasskeySignIn": [["signin", "remote_address"], ["signin"]],
      "/signin": [["signin-page", "remote_address"], ["signin-page"]],
      // The page's POST spends the RPC's budget (its GET the sign-in pages').
      "/signup": [["signup", "remote_address"], ["signup"]],
    });
    // The service's default rules budget exactly the routes Envoy sends descriptors for (a budget may cover several routes).
    const defaults = loadRateLimitConfig({ REDIS_URL: "redis://127.0.0.1:6379" }).rules.map((r) => r.route);
    expect([...defaults].sort()).toEqual([...new Set(Object.values(limited).map((l) => (l as string[][])[0]?.[0]))].sort());
    const rls = config().static_resources.clusters.find((c: { name: string }) => c.name === "ratelimit");
    expect(rls.health_checks[0].grpc_health_check.service_name).toBe("envoy.service.ratelimit.v3.RateLimitService");
  });

  it("serves the same routes and filters over TLS with HSTS, and sends only browsers from plain HTTP there", () => {
    const [plain, tls] = config().static_resources.listeners as Array<Record<string, any>>;
    expect([plain?.name, tls?.name]).toEqual(["gateway", "gateway_tls"]);
    const hcm = (l: Record<string, any> | undefined) => l?.filter_chains[0].filters[0].typed_config;
    const { stat_prefix: _p, route_config: plainRoutes, ...plainRest } = hcm(plain);
    const { stat_prefix: _t, route_config: tlsRoutes, ...tlsRest } = hcm(tls);
    expect(tlsRest).toEqual(plainRest);
    expect(tlsRoutes.virtual_hosts).toEqual(plainRoutes.virtual_hosts);
    // RFC 6797 7.2: HSTS is never sent over plain HTTP.
    expect(plainRoutes.response_headers_to_add).toBeUndefined();
    expect(tlsRoutes.response_headers_to_add).toEqual([{ header: { key: "strict-transport-security", value: "max-age=31536000" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }]);

    const context = tls?.filter_chains[0].transport_socket.typed_config.common_tls_context;
    expect(context.tls_params.tls_minimum_protocol_version).toBe("TLSv1_2");
    expect(context.alpn_protocols).toEqual(["h2", "http/1.1"]);
    expect(plain?.filter_chains[0].transport_socket).toBeUndefined();

    const redirect = plainRoutes.virtual_hosts[0].routes[0];
    expect(redirect.redirect).toEqual({ https_redirect: true, port_redirect: 8443, response_code: "FOUND" });
    expect(redirect.match.headers).toEqual([
      { name: "x-forwarded-proto", string_match: { exact: "http" } },
      { name: ":method", string_match: { safe_regex: { regex: "GET|HEAD" } } },
      { name: "accept", string_match: { contains: "text/html" } },
    ]);
    expect(plainRoutes.virtual_hosts[0].routes.filter((r: Record<string, unknown>) => r.redirect)).toHaveLength(1);
  });

  it("catches an unknown field anywhere, including inside a typed_config", () => {
    const top = config();
    top.static_resources.clusters[0].conect_timeout = "1s";
    expect(errorsOf(top)).toEqual(["bootstrap.static_resources.clusters[0].conect_timeout: unknown field of envoy.config.cluster.v3.Cluster"]);

    const nested = config();
    filterOf(nested.static_resources.listeners[0].filter_chains[0].filters[0].typed_config, "envoy.filters.http.ext_authz").failure_mode_alow = false;
    expect(errorsOf(nested).join("\n")).toMatch(/failure_mode_alow: unknown field of envoy\.extensions\.filters\.http\.ext_authz\.v3\.ExtAuthz/);
  });

  it("catches an unknown @type, a wrong shape, a bad enum and a deprecated field", () => {
    const bad = config();
    const hcm = bad.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    hcm.http_filters[1].typed_config["@type"] = "type.googleapis.com/envoy.extensions.filters.http.grpc_webb.v3.GrpcWeb";
    filterOf(hcm, "envoy.filters.http.ext_authz").grpc_service.timeout = 250;
    filterOf(hcm, "envoy.filters.http.ext_authz").transport_api_version = "V4";
    hcm.use_remote_address = "yes";
    const errors = errorsOf(bad).join("\n");
    expect(errors).toContain("unknown @type type.googleapis.com/envoy.extensions.filters.http.grpc_webb.v3.GrpcWeb");
    expect(errors).toContain("grpc_service.timeout: duration must look like 0.25s");
    expect(errors).toContain('"V4" is not a value of envoy.config.core.v3.ApiVersion');
    expect(errors).toContain("use_remote_address: must be a boolean");

    const old = config();
    old.static_resources.clusters[0].http2_protocol_options = {};
    expect(errorsOf(old).join("\n")).toContain("http2_protocol_options: deprecated field");
  });
});
