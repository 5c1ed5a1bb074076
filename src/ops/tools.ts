/**
 * The operations tool chain the deploy/ checks run, installed on first use from package
 * registries only (the Go module proxy, PyPI) and cached under <repo>/.stack/tools, so a fresh
 * clone's `npm test` gets them and later runs start at once:
 *
 * - kubeconform and kustomize: `go install` from the Go module proxy;
 * - the Kubernetes API's JSON schemas: the PyPI wheel kubernetes-validate ships them, generated
 *   from the API server's OpenAPI document for each minor release;
 * - the CRDs' schemas: the operators' own Go modules (CloudNativePG, KubeBlocks, the Prometheus
 *   Operator) carry their CustomResourceDefinitions, converted to JSON schema (crd-schema.ts).
 *
 * Every install writes into a temporary directory and renames it into place, so two test files
 * asking at once cannot see half a tool.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { crdToJsonSchemas, type CustomResourceDefinition, kubernetesSchemaFromOpenApi } from "./crd-schema.js";

/** Pinned so a run today and a run next month check against the same schemas. */
export const TOOL_VERSIONS = {
  kubeconform: "v0.8.0",
  // v5.8 needs Go 1.27; v5.7.1 builds with the Go 1.26 this machine has.
  kustomize: "v5.7.1",
  kubernetesValidate: "1.37.0",
  /** The Kubernetes API the manifests are checked against. */
  kubernetes: "1.34.0",
  cloudnativePg: "v1.27.1",
  kubeblocks: "v1.0.0",
  prometheusOperator: "v0.85.0",
  /** The OpenTelemetry Collector's modules (src/ops/otelcol/go.mod pins them; this names the build). */
  otelcol: "v0.165.0",
} as const;

export interface OpsTools {
  kubeconform: string;
  kustomize: string;
  /** kubeconform -schema-location templates: Kubernetes' own kinds, then the CRDs'. */
  schemaLocations: string[];
}

export function toolsDir(repo: string): string {
  return path.join(repo, ".stack", "tools");
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const result = spawnSync(command, args, { env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw new Error(`${command} could not run: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (exit ${result.status ?? result.signal}):\n${result.stderr}`);
  return result.stdout;
}

function haveCommand(command: string): boolean {
  // Only whether it can be started: a nonzero exit still means the program is there.
  return spawnSync(command, ["--version"], { stdio: "ignore" }).error === undefined;
}

/** Builds `target` in a fresh temporary directory beside it and renames it into place. */
function installOnce(target: string, build: (tmp: string) => void): string {
  if (fs.existsSync(target)) return target;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = fs.mkdtempSync(`${target}.tmp-`);
  try {
    build(tmp);
    try {
      fs.renameSync(tmp, target);
    } catch (error) {
      // Another process finished first; its copy is as good as ours.
      if (!fs.existsSync(target)) throw error;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return target;
}

function goEnv(tools: string): NodeJS.ProcessEnv {
  if (!haveCommand("go")) {
    throw new Error(
      "the deploy checks need Go >= 1.24 to install kubeconform and kustomize from the Go module proxy; " +
        "Debian bookworm's golang-go is too old: install it from bookworm-backports (apt-get install -t bookworm-backports golang-go) and put it on PATH",
    );
  }
  // The module cache stays writable (-modcacherw) so `rm -rf .stack` works without `go clean`.
  return { ...process.env, GOMODCACHE: path.join(tools, "go", "mod"), GOFLAGS: "-modcacherw", GOTOOLCHAIN: "local" };
}

function goInstall(tools: string, name: string, pkg: string, version: string): string {
  const dir = installOnce(path.join(tools, `${name}-${version}`), (tmp) => {
    run("go", ["install", `${pkg}@${version}`], { ...goEnv(tools), GOBIN: tmp });
  });
  return path.join(dir, name);
}

/** Where `go mod download` put a module, in the tools cache. */
export function goModuleDir(tools: string, module: string, version: string): string {
  const info = JSON.parse(run("go", ["mod", "download", "-json", `${module}@${version}`], goEnv(tools))) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${module}@${version}: ${info.Error ?? "no directory"}`);
  return info.Dir;
}

function kubernetesSchemas(tools: string): string {
  const { kubernetesValidate, kubernetes } = TOOL_VERSIONS;
  const folder = `v${kubernetes}-local-strict`;
  return installOnce(path.join(tools, `kubernetes-json-schema-${kubernetesValidate}`), (tmp) => {
    const python = haveCommand("python3") ? "python3" : undefined;
    if (!python) throw new Error("the deploy checks need python3 with pip to fetch the Kubernetes schemas from PyPI: apt-get install -y python3-pip");
    const wheels = path.join(tmp, "wheel");
    run(python, ["-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "-d", wheels, `kubernetes-validate==${kubernetesValidate}`]);
    const [wheel] = fs.readdirSync(wheels);
    if (!wheel) throw new Error("pip download left no kubernetes-validate wheel");
    const prefix = `kubernetes_validate/kubernetes-json-schema/${folder}/`;
    const extracted = path.join(tmp, "extracted");
    // Only the one Kubernetes version we check against: the wheel holds every release since 1.0.
    run(python, [
      "-c",
      "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nfor n in z.namelist():\n    if n.startswith(sys.argv[3]): z.extract(n, sys.argv[2])",
      path.join(wheels, wheel),
      extracted,
      prefix,
    ]);
    const source = path.join(extracted, prefix);
    const out = path.join(tmp, folder);
    fs.mkdirSync(out);
    for (const file of fs.readdirSync(source)) {
      const schema = JSON.parse(fs.readFileSync(path.join(source, file), "utf8")) as unknown;
      fs.writeFileSync(path.join(out, file), JSON.stringify(kubernetesSchemaFromOpenApi(schema)));
    }
    fs.rmSync(wheels, { recursive: true });
    fs.rmSync(extracted, { recursive: true });
  });
}

/** The CRDs this deployment uses, from the operators' Go modules, as <group>/<kind>_<version>.json. */
function crdSchemas(tools: string): string {
  const { cloudnativePg, kubeblocks, prometheusOperator } = TOOL_VERSIONS;
  return installOnce(path.join(tools, `crd-schemas-cnpg-${cloudnativePg}-kubeblocks-${kubeblocks}-prometheus-operator-${prometheusOperator}`), (tmp) => {
    const sources = [
      { dir: goModuleDir(tools, "github.com/cloudnative-pg/cloudnative-pg", cloudnativePg), crds: "config/crd/bases", files: /^postgresql\.cnpg\.io_.*\.yaml$/ },
      { dir: goModuleDir(tools, "github.com/apecloud/kubeblocks", kubeblocks), crds: "config/crd/bases", files: /^(apps|dataprotection|parameters)\.kubeblocks\.io_.*\.yaml$/ },
      { dir: goModuleDir(tools, "github.com/prometheus-operator/prometheus-operator", prometheusOperator), crds: "example/prometheus-operator-crd", files: /^monitoring\.coreos\.com_podmonitors\.yaml$/ },
    ];
    for (const { dir, crds, files } of sources) {
      const bases = path.join(dir, crds);
      for (const file of fs.readdirSync(bases).filter((f) => files.test(f))) {
        for (const doc of parseAllDocuments(fs.readFileSync(path.join(bases, file), "utf8"))) {
          const crd = doc.toJS() as CustomResourceDefinition | null;
          if (crd?.kind !== "CustomResourceDefinition") continue;
          for (const schema of crdToJsonSchemas(crd)) {
            const target = path.join(tmp, schema.group, `${schema.kind.toLowerCase()}_${schema.version}.json`);
            fs.mkdirSync(path.dirname(target), { recursive: true });
            fs.writeFileSync(target, JSON.stringify(schema.schema));
          }
        }
      }
    }
  });
}

/**
 * The OpenTelemetry Collector of src/ops/otelcol (its OTLP receiver and OTLP/HTTP exporter only),
 * built from the Go module proxy once: the real OTLP endpoint the tracing tests export to.
 */
export function ensureOtelCollector(repo: string): string {
  const tools = toolsDir(repo);
  const source = path.join(repo, "src", "ops", "otelcol");
  // Named by its source too, so an edit of main.go or go.mod builds anew instead of reusing the old binary.
  const digest = createHash("sha256");
  for (const file of ["main.go", "go.mod", "go.sum"]) digest.update(fs.readFileSync(path.join(source, file)));
  const dir = installOnce(path.join(tools, `otelcol-auth-${TOOL_VERSIONS.otelcol}-${digest.digest("hex").slice(0, 12)}`), (tmp) => {
    run("go", ["build", "-C", source, "-trimpath", "-o", path.join(tmp, "otelcol-auth"), "."], goEnv(tools));
  });
  return path.join(dir, "otelcol-auth");
}

export function ensureOpsTools(repo: string): OpsTools {
  const tools = toolsDir(repo);
  const kubeconform = goInstall(tools, "kubeconform", "github.com/yannh/kubeconform/cmd/kubeconform", TOOL_VERSIONS.kubeconform);
  const kustomize = goInstall(tools, "kustomize", "sigs.k8s.io/kustomize/kustomize/v5", TOOL_VERSIONS.kustomize);
  const k8s = kubernetesSchemas(tools);
  const crds = crdSchemas(tools);
  return {
    kubeconform,
    kustomize,
    schemaLocations: [
      path.join(k8s, "{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}", "{{ .ResourceKind }}{{ .KindSuffix }}.json"),
      path.join(crds, "{{ .Group }}", "{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"),
    ],
  };
}
