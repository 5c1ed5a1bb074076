import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { renderComposeEnvoy } from "../../../docker/render-envoy.js";
import { ensureOpsTools, goModuleDir, TOOL_VERSIONS, toolsDir, type OpsTools } from "../../../src/ops/tools.js";
import { loadAuthzConfig } from "../../../src/authz/config.js";
import { loadAuthConfig } from "../../../src/auth/config.js";
import { loadMailWorkerConfig } from "../../../src/auth/mail/config.js";
import { loadRateLimitConfig } from "../../../src/ratelimit/config.js";
import { ENVOY_VERSION } from "../../../src/stack/envoy-install.js";
import { namesRead, REPO } from "../../support/compose-file.js";

/** The parts of Kubernetes objects these tests read; the validator checks the rest. */
interface Container {
  name: string;
  image: string;
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } } }>;
  readinessProbe?: Record<string, unknown>;
  livenessProbe?: Record<string, unknown>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}
type Workload = K8sObject & { spec: { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } } };

const OVERLAY = "deploy/k8s/overlays/production";
const tmp = mkdtempSync(path.join(tmpdir(), "deploy-k8s-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let tools: OpsTools;
let built: string;
let objects: K8sObject[];

function run(command: string, args: string[]) {
  const result = spawnSync(command, args, { cwd: REPO, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function build(dir: string): string {
  const { status, stdout, stderr } = run(tools.kustomize, ["build", "--load-restrictor", "LoadRestrictionsNone", dir]);
  expect(stderr).toBe("");
  expect(status).toBe(0);
  return stdout;
}

/** kubeconform, strict (unknown fields fail), with no schema allowed to be missing. */
function kubeconform(file: string) {
  // Two workers: the machine has two cores and the rest of the suite runs beside this.
  const args = ["-strict", "-summary", "-output", "json", "-n", "2", "-kubernetes-version", TOOL_VERSIONS.kubernetes];
  for (const location of tools.schemaLocations) args.push("-schema-location", location);
  const { status, stdout, stderr } = run(tools.kubeconform, [...args, file]);
  const report = JSON.parse(stdout) as {
    resources: Array<{ kind: string; name: string; status: string; msg: string }>;
    summary: { valid: number; invalid: number; errors: number; skipped: number };
  };
  return { status, stderr, report };
}

const byKind = <T extends K8sObject = K8sObject>(kind: string) => objects.filter((o) => o.kind === kind) as T[];
function one<T extends K8sObject = K8sObject>(kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in the build`);
  return found as T;
}
const podSpec = (w: Workload) => w.spec.template.spec;
const envOf = (c: Container) => Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]));
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** What an operator puts in each Secret the manifests name (shapes as docs/operations.md creates them). */
const SECRET_VALUES: Record<string, string> = {
  "auth-db-app/password": randomBytes(24).toString("hex"),
  "auth-redis-password/password": randomBytes(24).toString("hex"),
  "auth-platform-keys/SIGNING_KEY_ENCRYPTION_KEY": randomBytes(32).toString("base64"),
  "auth-platform-keys/MFA_ENCRYPTION_KEY": randomBytes(32).toString("base64"),
  "auth-platform-smtp/SMTP_URL": "smtps://mailer:secret@smtp.example.com:465",
};

/**
 * A container's environment as the kubelet builds it: literal values with $(VAR) expanded from
 * the variables before them, ConfigMap keys from the built ConfigMaps, Secret keys from
 * SECRET_VALUES. Also returns the variables that only feed a $(VAR) expansion.
 */
function resolvedEnv(container: Container): { env: Record<string, string>; expansionInputs: Set<string> } {
  const env: Record<string, string> = {};
  const expansionInputs = new Set<string>();
  for (const e of container.env ?? []) {
    if (e.value !== undefined) {
      env[e.name] = e.value.replace(/\$\(([A-Z_]+)\)/g, (whole, name: string) => {
        expansionInputs.add(name);
        return env[name] ?? whole;
      });
    } else if (e.valueFrom?.configMapKeyRef) {
      const { name, key } = e.valueFrom.configMapKeyRef;
      const value = one("ConfigMap", name).data?.[key];
      if (value === undefined) throw new Error(`${container.name}: ConfigMap ${name} has no key ${key}`);
      env[e.name] = value;
    } else if (e.valueFrom?.secretKeyRef) {
      const { name, key } = e.valueFrom.secretKeyRef;
      const value = SECRET_VALUES[`${name}/${key}`];
      if (value === undefined) throw new Error(`${container.name}: Secret ${name} key ${key} is not one the docs create`);
      env[e.name] = value;
    }
  }
  return { env, expansionInputs };
}

beforeAll(() => {
  // First run on a machine: go install and go mod download from the Go module proxy, a wheel from PyPI.
  tools = ensureOpsTools(REPO);
  built = build(OVERLAY);
  writeFileSync(path.join(tmp, "production.yaml"), built);
  objects = parseAllDocuments(built).map((d) => d.toJS() as K8sObject);
}, 600_000);

describe("deploy/k8s: kubeconform against the Kubernetes API's and the operators' CRD schemas", { timeout: 60_000 }, () => {
  it("every object the production overlay builds is valid, and none is skipped for want of a schema", () => {
    const { status, report } = kubeconform(path.join(tmp, "production.yaml"));
    const bad = report.resources.filter((r) => r.status !== "statusValid");
    expect(bad, JSON.stringify(bad, null, 2)).toEqual([]);
    expect(status).toBe(0);
    expect(report.summary.skipped).toBe(0);
    expect(report.summary.valid).toBe(objects.length);
    // The data tier is the engines' own resources, checked against their CRDs too.
    expect(objects.map((o) => `${o.apiVersion} ${o.kind}`)).toEqual(
      expect.arrayContaining(["postgresql.cnpg.io/v1 Cluster", "postgresql.cnpg.io/v1 Pooler", "postgresql.cnpg.io/v1 ScheduledBackup", "apps.kubeblocks.io/v1 Cluster"]),
    );
  });

  it("rejects a misspelt field in a Deployment, a CloudNativePG Cluster and a KubeBlocks Cluster: the schemas are really applied", () => {
    const broken = objects.map((o) => structuredClone(o)) as Array<K8sObject & { spec: Record<string, unknown> }>;
    const deployment = broken.find((o) => o.kind === "Deployment" && o.metadata.name === "auth")!;
    (podSpec(deployment as unknown as Workload).containers[0] as unknown as Record<string, unknown>).readinesProbe = { tcpSocket: { port: 7001 } };
    broken.find((o) => o.apiVersion === "postgresql.cnpg.io/v1" && o.kind === "Cluster")!.spec.instance = 4;
    broken.find((o) => o.apiVersion === "apps.kubeblocks.io/v1" && o.kind === "Cluster")!.spec.terminationPolicy = "Halt";
    // As JSON (which is YAML): a YAML 1.2 writer leaves strings like "yes" unquoted, which
    // kubeconform's YAML 1.1 reader would take for booleans.
    writeFileSync(path.join(tmp, "broken.yaml"), broken.map((o) => JSON.stringify(o)).join("\n---\n"));
    const { status, report } = kubeconform(path.join(tmp, "broken.yaml"));
    expect(status).not.toBe(0);
    const invalid = report.resources.filter((r) => r.status === "statusInvalid");
    expect(invalid.map((r) => `${r.kind}/${r.name}`).sort()).toEqual(["Cluster/auth-db", "Cluster/auth-redis", "Deployment/auth"]);
    expect(invalid.find((r) => r.kind === "Deployment")?.msg).toContain("readinesProbe");
  });
});

describe("deploy/k8s: the workloads", { timeout: 60_000 }, () => {
  const services = ["auth", "authz", "gateway", "mail-worker"];

  it("every Deployment's containers have readiness and liveness probes and resource requests and limits", () => {
    for (const deployment of byKind<Workload>("Deployment")) {
      for (const container of podSpec(deployment).containers) {
        const where = `${deployment.metadata.name}/${container.name}`;
        expect(container.readinessProbe, `${where} readiness`).toBeDefined();
        expect(container.livenessProbe, `${where} liveness`).toBeDefined();
        expect(Object.keys(container.resources?.requests ?? {}).sort(), `${where} requests`).toEqual(["cpu", "memory"]);
        expect(Object.keys(container.resources?.limits ?? {}).sort(), `${where} limits`).toEqual(["cpu", "memory"]);
      }
    }
  });

  it("auth and authz are ready by gRPC health on their gRPC ports; authz is live by HTTP on its HTTP port", () => {
    const auth = podSpec(one<Workload>("Deployment", "auth")).containers[0]!;
    expect(auth.readinessProbe).toMatchObject({ grpc: { port: Number(envOf(auth).AUTH_PORT), service: "auth.v1.AuthService" } });
    expect(auth.livenessProbe).toMatchObject({ httpGet: { path: "/healthz" } });
    const authz = podSpec(one<Workload>("Deployment", "authz")).containers[0]!;
    expect(authz.readinessProbe).toMatchObject({ grpc: { port: Number(envOf(authz).AUTHZ_PORT), service: "envoy.service.auth.v3.Authorization" } });
    expect(authz.livenessProbe).toMatchObject({ httpGet: { path: "/healthz", port: "http" } });
  });

  it("each of auth, authz, gateway and mail-worker has a PodDisruptionBudget selecting its pods", () => {
    const budgets = byKind<K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } }>("PodDisruptionBudget");
    for (const name of services) {
      const labels = one<Workload>("Deployment", name).spec.template.metadata.labels;
      expect(budgets.some((b) => matches(b.spec.selector.matchLabels, labels)), `${name} has a PDB`).toBe(true);
    }
  });

  it("authz scales on CPU and on the Check rate per pod; auth and the gateway on CPU", () => {
    type Hpa = K8sObject & { spec: { scaleTargetRef: { name: string }; minReplicas: number; metrics: Array<{ type: string; resource?: { name: string }; pods?: { metric: { name: string } } }> } };
    const hpa = (name: string) => byKind<Hpa>("HorizontalPodAutoscaler").find((h) => h.spec.scaleTargetRef.name === name)!;
    expect(hpa("authz").spec.metrics.map((m) => m.resource?.name ?? m.pods?.metric.name)).toEqual(["cpu", "authz_checks_per_second"]);
    expect(hpa("authz").spec.minReplicas).toBe(3);
    for (const name of ["auth", "gateway"]) expect(hpa(name).spec.metrics.map((m) => m.resource?.name)).toEqual(["cpu"]);
    // The adapter rule that serves the Pods metric is derived from the counter authz exports.
    const adapter = parse(readFileSync(path.join(REPO, "deploy/prometheus/adapter.yaml"), "utf8")) as {
      rules: Array<{ seriesQuery: string; name: { as: string }; metricsQuery: string }>;
    };
    const rule = adapter.rules.find((r) => r.name.as === "authz_checks_per_second");
    expect(rule?.seriesQuery).toContain("authz_checks_total");
    expect(rule?.metricsQuery).toContain("rate(");
  });

  it("each service's environment is accepted by its own config loader, which reads every variable given", () => {
    const loaders = { auth: loadAuthConfig, authz: loadAuthzConfig, "mail-worker": loadMailWorkerConfig, ratelimit: loadRateLimitConfig };
    const configs: Record<string, unknown> = {};
    for (const [name, load] of Object.entries(loaders)) {
      const { env, expansionInputs } = resolvedEnv(podSpec(one<Workload>("Deployment", name)).containers[0]!);
      configs[name] = load(env);
      const read = namesRead(load, env);
      expect(Object.keys(env).filter((key) => !read.has(key) && !expansionInputs.has(key)), `${name}: variables its config never reads`).toEqual([]);
    }
    const auth = configs.auth as ReturnType<typeof loadAuthConfig>;
    const authz = configs.authz as ReturnType<typeof loadAuthzConfig>;
    // Each URL names a Service of the build, on its port.
    type Service = K8sObject & { spec: { ports: Array<{ port: number }> } };
    const serves = (url: string, service: string) => {
      expect(new URL(url).hostname).toBe(service);
      expect(one<Service>("Service", service).spec.ports.map((p) => p.port)).toContain(Number(new URL(url).port));
    };
    serves(auth.databaseReplicaUrl ?? "", "haproxy");
    // The Redis Cluster's seeds: the headless Service over its pods, on the Redis port.
    expect(auth.redis.kind).toBe("cluster");
    const seed = auth.redis.kind === "cluster" ? auth.redis.nodes[0] : undefined;
    serves(`redis://${seed?.host}:${seed?.port}`, "auth-redis-nodes");
    expect(auth.redis.kind === "cluster" && auth.redis.password).toBeTruthy();
    serves(authz.jwksUrl, "auth");
    expect(new URL(authz.jwksUrl).port).toBe(String(auth.port));
    // The Pooler and the primary's service are CloudNativePG's: <cluster>-pooler-rw (its name) and <cluster>-rw.
    expect(new URL(auth.databaseUrl).host).toBe(`${one("Pooler", "auth-db-pooler-rw").metadata.name}:5432`);
    expect(new URL(auth.databasePrimaryUrl).host).toBe(`${one("Cluster", "auth-db").metadata.name}-rw:5432`);
    // auth and authz must agree on tokens.
    expect(authz.shared).toEqual(auth.shared);
    expect(auth.shared.issuer).toBe("https://auth.example.com");
    expect(authz.signinUrl).toBe("https://auth.example.com/signin");
    const { env: migrateEnv, expansionInputs } = resolvedEnv(podSpec(one<Workload>("Job", "migrate")).containers[0]!);
    // main-migrate.ts reads these three and nothing else.
    expect(Object.keys(migrateEnv).filter((key) => !expansionInputs.has(key) && !["DATABASE_PRIMARY_URL", "DATABASE_URL", "LOG_LEVEL"].includes(key))).toEqual([]);
  });

  it("no Secret is inlined: secrets come from Secrets by reference, and no env value holds a credential", () => {
    expect(byKind("Secret")).toEqual([]);
    const refs = new Set<string>();
    for (const w of [...byKind<Workload>("Deployment"), ...byKind<Workload>("Job")]) {
      for (const c of [...podSpec(w).containers, ...(podSpec(w).initContainers ?? [])]) {
        for (const e of c.env ?? []) {
          if (e.valueFrom?.secretKeyRef) refs.add(e.valueFrom.secretKeyRef.name);
          // Connection URLs name their password only as $(VAR), filled from a Secret by the kubelet.
          if (e.value && /:\/\/[^@/]*@/.test(e.value)) expect(e.value, e.name).toMatch(/:\/\/[^:]*:\$\([A-Z_]+\)@/);
          if (/^(SIGNING_KEY_ENCRYPTION_KEY|MFA_ENCRYPTION_KEY|[A-Z_]*PASSWORD|SMTP_URL)$/.test(e.name)) expect(e.value, e.name).toBeUndefined();
        }
      }
    }
    // The Secrets an operator creates (README, docs/operations.md) plus CloudNativePG's own.
    expect([...refs].sort()).toEqual(["auth-db-app", "auth-platform-keys", "auth-platform-smtp", "auth-redis-password"]);
  });

  it("Redis's default user takes its password from the Secret the services read, in their namespace", () => {
    type RedisCluster = K8sObject & { spec: { shardings: Array<{ name: string; template: { systemAccounts?: Array<{ name: string; secretRef: { name: string; namespace: string } }> } }> } };
    const accounts = one<RedisCluster>("Cluster", "auth-redis").spec.shardings.find((s) => s.name === "shard")?.template.systemAccounts;
    // kustomize's namespace does not reach this field: it must name the overlay's namespace itself.
    expect(accounts).toEqual([{ name: "default", secretRef: { name: "auth-redis-password", namespace: one("Namespace", "auth-platform").metadata.name, password: "password" } }]);
    const authz = podSpec(one<Workload>("Deployment", "authz")).containers[0]!;
    expect(authz.env?.find((e) => e.name === "REDIS_PASSWORD")?.valueFrom?.secretKeyRef).toEqual({ name: "auth-redis-password", key: "password" });
    expect(one<Workload>("Deployment", "authz").metadata.namespace).toBe("auth-platform");
  });

  it("Redis keeps an append-only file, fsynced every second", () => {
    const parameter = one<K8sObject & { spec: { clusterName: string; componentParameters: Array<{ componentName: string; parameters: Record<string, string> }> } }>("Parameter", "auth-redis-persistence");
    expect(parameter.spec.clusterName).toBe(one("Cluster", "auth-redis").metadata.name);
    expect(parameter.spec.componentParameters).toEqual([
      { componentName: "shard", parameters: { appendonly: "yes", appendfsync: "everysec", "cluster-require-full-coverage": "no" } },
    ]);
  });

  it("the migrations Job runs against the primary directly, not through the Pooler", () => {
    const job = one<Workload>("Job", "migrate");
    const env = envOf(podSpec(job).containers[0]!);
    expect(podSpec(job).containers[0]!.image).toBe("registry.example.com/auth-platform:0.1.0");
    expect(env.DATABASE_PRIMARY_URL).toMatch(/@auth-db-rw:5432\/auth$/);
  });
});

describe("deploy/k8s: configuration from the repo's own files", { timeout: 60_000 }, () => {
  it("the envoy and haproxy ConfigMaps hold envoy/, haproxy/ and docker/ files byte for byte", () => {
    const data = (prefix: string) => byKind("ConfigMap").find((c) => c.metadata.name.startsWith(`${prefix}-`))!.data!;
    expect(data("envoy-template")["envoy.yaml"]).toBe(readFileSync(path.join(REPO, "envoy/envoy.yaml"), "utf8"));
    expect(data("haproxy-template")["haproxy.cfg"]).toBe(readFileSync(path.join(REPO, "haproxy/haproxy.cfg"), "utf8"));
    for (const script of ["render-haproxy.sh", "render-template.sh"]) {
      expect(data("haproxy-template")[script]).toBe(readFileSync(path.join(REPO, "docker", script), "utf8"));
    }
  });

  it("the gateway's rendered Envoy config is envoy.yaml with only the addresses (Kubernetes services) and STRICT_DNS changed", () => {
    const gateway = one<Workload>("Deployment", "gateway");
    const init = podSpec(gateway).initContainers!.find((c) => c.name === "render-envoy")!;
    // The Envoy version the launcher and every test run (envoy-install.ts).
    expect(podSpec(gateway).containers.find((c) => c.name === "envoy")?.image).toBe(`envoyproxy/envoy:v${ENVOY_VERSION.split(".").slice(0, 2).join(".")}-latest`);
    const rendered = JSON.parse(renderComposeEnvoy(readFileSync(path.join(REPO, "envoy/envoy.yaml"), "utf8"), envOf(init))) as Record<string, unknown>;
    const original = parse(readFileSync(path.join(REPO, "envoy/envoy.yaml"), "utf8"), { maxAliasCount: -1 }) as Record<string, unknown>;

    // Every leaf that differs, by path: nothing may differ but addresses and discovery types.
    const differences: string[] = [];
    const walk = (a: unknown, b: unknown, at: string) => {
      if (typeof a === "object" && a !== null && typeof b === "object" && b !== null) {
        for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) walk((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${at}/${key}`);
      } else if (a !== b) differences.push(`${at}: ${String(a)} -> ${String(b)}`);
    };
    // TLS ends at the cluster's ingress: without certificate files the renderer leaves out envoy.yaml's
    // HTTPS listener and the plain listener's redirect to it (gateway-config.ts renderTls), and nothing else.
    type Routes = { static_resources: { listeners: Array<{ name: string; filter_chains: Array<{ filters: Array<{ typed_config: { route_config: { virtual_hosts: Array<{ routes: Array<{ redirect?: unknown }> }> } } }> }> }> } };
    const withoutTls = original as unknown as Routes;
    withoutTls.static_resources.listeners = withoutTls.static_resources.listeners.filter((l) => l.name !== "gateway_tls");
    for (const host of withoutTls.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.route_config.virtual_hosts) {
      host.routes = host.routes.filter((r) => r.redirect === undefined);
    }
    // Tracing is off unless the init container is given OTEL_EXPORTER_OTLP_ENDPOINT: the renderer leaves
    // out the connection managers' tracing blocks and the opentelemetry cluster (renderTracing).
    type Traced = { static_resources: { listeners: Array<{ filter_chains: Array<{ filters: Array<{ typed_config: { tracing?: unknown } }> }> }>; clusters: Array<{ name: string }> } };
    const untraced = original as unknown as Traced;
    for (const listener of untraced.static_resources.listeners) for (const filter of listener.filter_chains[0]!.filters) delete filter.typed_config.tracing;
    untraced.static_resources.clusters = untraced.static_resources.clusters.filter((c) => c.name !== "opentelemetry");
    walk(original, rendered, "");
    const clusterIndex = (name: string) => (original.static_resources as { clusters: Array<{ name: string }> }).clusters.findIndex((c) => c.name === name);
    const endpoint = (name: string) => `/static_resources/clusters/${clusterIndex(name)}/load_assignment/endpoints/0/lb_endpoints/0/endpoint/address/socket_address`;
    expect(differences.sort()).toEqual(
      [
        "/static_resources/listeners/0/address/socket_address/address: 127.0.0.1 -> 0.0.0.0",
        ...["authz", "ratelimit", "auth", "example"].map((name) => `/static_resources/clusters/${clusterIndex(name)}/type: STATIC -> STRICT_DNS`),
        `${endpoint("authz")}/address: 127.0.0.1 -> authz`,
        `${endpoint("ratelimit")}/address: 127.0.0.1 -> ratelimit`,
        `${endpoint("auth")}/address: 127.0.0.1 -> auth`,
        `${endpoint("example")}/address: 127.0.0.1 -> example-upstream`,
      ].sort(),
    );
    // Those names are headless Services of the build, on the ports the file uses, so STRICT_DNS sees every pod.
    type Service = K8sObject & { spec: { clusterIP?: string; ports: Array<{ port: number }> } };
    for (const [name, port] of [["authz", 7002], ["ratelimit", 7004], ["auth", 7001], ["example-upstream", 7010]] as const) {
      const service = one<Service>("Service", name);
      expect(service.spec.clusterIP, name).toBe("None");
      expect(service.spec.ports.map((p) => p.port)).toContain(port);
    }
  });

  it("the Pooler runs pgbouncer/pgbouncer.ini's settings, each one CloudNativePG accepts", () => {
    const ini = readFileSync(path.join(REPO, "pgbouncer/pgbouncer.ini"), "utf8");
    const section = ini.slice(ini.indexOf("[pgbouncer]"));
    const settings = Object.fromEntries(
      [...section.matchAll(/^([a-z_]+)[ \t]*=[ \t]*(.*)$/gm)].map((m) => [m[1] as string, (m[2] as string).trim()]),
    );
    // The operator owns the listener, sockets, authentication and its admin users.
    const OPERATOR_OWNED = ["listen_addr", "listen_port", "unix_socket_dir", "pidfile", "auth_type", "auth_file", "admin_users", "stats_users"];
    const pooler = one<K8sObject & { spec: { pgbouncer: { poolMode: string; parameters: Record<string, string> } } }>("Pooler", "auth-db-pooler-rw");
    const { pool_mode: poolMode, ...rest } = Object.fromEntries(Object.entries(settings).filter(([k]) => !OPERATOR_OWNED.includes(k)));
    expect(pooler.spec.pgbouncer.poolMode).toBe(poolMode);
    expect(pooler.spec.pgbouncer.parameters).toEqual(rest);

    // CloudNativePG's admission webhook refuses any other parameter: read its list from the operator's source.
    const webhook = readFileSync(path.join(goModuleDir(toolsDir(REPO), "github.com/cloudnative-pg/cloudnative-pg", TOOL_VERSIONS.cloudnativePg), "internal/webhook/v1/pooler_webhook.go"), "utf8");
    const list = /AllowedPgbouncerGenericConfigurationParameters = stringset\.From\(\[\]string\{([^}]*)\}/.exec(webhook)?.[1] ?? "";
    const allowed = new Set([...list.matchAll(/"([a-z_]+)"/g)].map((m) => m[1]));
    expect(allowed.size).toBeGreaterThan(20);
    for (const key of Object.keys(pooler.spec.pgbouncer.parameters)) expect(allowed.has(key), key).toBe(true);
  });

  it("HAProxy gets a value for every placeholder haproxy.cfg names", () => {
    const container = podSpec(one<Workload>("Deployment", "haproxy")).containers[0]!;
    const env = envOf(container);
    const template = readFileSync(path.join(REPO, "haproxy/haproxy.cfg"), "utf8").replace(/^#.*$/gm, "");
    const names = new Set([...template.matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1] as string));
    for (const perReplica of ["REPLICA_INDEX", "REPLICA_HOST"]) names.delete(perReplica);
    for (const name of names) expect(env[name], name).toBeTruthy();
    expect(env.REPLICA_HOSTS).toBe("auth-db-ro");
    expect(env.PRIMARY_HOST).toBe("auth-db-rw");
  });
});

describe("deploy/k8s: NetworkPolicies", { timeout: 60_000 }, () => {
  type Peer = { podSelector?: { matchLabels?: Record<string, string> }; namespaceSelector?: { matchLabels?: Record<string, string> } };
  type Policy = K8sObject & { spec: { podSelector: { matchLabels?: Record<string, string> }; ingress?: Array<{ from?: Peer[] }> } };
  const policies = () => byKind<Policy>("NetworkPolicy");
  const peersOf = (name: string) => {
    const labels = one<Workload>("Deployment", name).spec.template.metadata.labels;
    return policies()
      .filter((p) => p.spec.podSelector.matchLabels && matches(p.spec.podSelector.matchLabels, labels))
      .flatMap((p) => (p.spec.ingress ?? []).flatMap((rule) => rule.from ?? [{}]));
  };

  it("denies all ingress by default", () => {
    expect(policies().some((p) => Object.keys(p.spec.podSelector).length === 0 && (p.spec.ingress ?? []).length === 0)).toBe(true);
  });

  it("only the gateway reaches auth and authz (plus authz fetching the JWKS, and Prometheus from the monitoring namespace)", () => {
    const describePeer = (p: Peer) => p.podSelector?.matchLabels?.["app.kubernetes.io/name"] ?? `ns:${p.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"]}`;
    expect(peersOf("auth").map(describePeer).sort()).toEqual(["authz", "gateway", "ns:monitoring"]);
    expect(peersOf("authz").map(describePeer).sort()).toEqual(["gateway", "ns:monitoring"]);
  });

  it("only the services that use them are labelled to reach Postgres and Redis", () => {
    const labelled = (label: string) =>
      [...byKind<Workload>("Deployment"), ...byKind<Workload>("Job")].filter((w) => w.spec.template.metadata.labels[label] === "true").map((w) => w.metadata.name).sort();
    expect(labelled("auth-platform/database-client")).toEqual(["auth", "haproxy", "mail-worker", "migrate"]);
    expect(labelled("auth-platform/redis-client")).toEqual(["auth", "authz", "ratelimit"]);
    const redis = policies().find((p) => p.metadata.name === "redis-from-services")!;
    expect(redis.spec.ingress![0]!.from).toEqual([{ podSelector: { matchLabels: { "auth-platform/redis-client": "true" } } }]);
  });
});
