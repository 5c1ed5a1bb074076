import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import protobuf from "protobufjs";

const require = createRequire(import.meta.url);
/** Envoy's data-plane-api and its dependencies, as @grpc/grpc-js-xds ships them. */
export const XDS_DEPS = path.join(path.dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
const ROOTS = ["envoy-api", "googleapis", "protoc-gen-validate", "xds"].map((dir) => path.join(XDS_DEPS, dir));
const PROTOBUFJS = path.dirname(require.resolve("protobufjs/package.json"));

function locate(file: string): string | undefined {
  if (file.startsWith("google/protobuf/")) return path.join(PROTOBUFJS, file);
  return ROOTS.map((root) => path.join(root, file)).find((candidate) => existsSync(candidate));
}

function walk(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, out);
    else if (entry.name.endsWith(".proto")) out.push(full);
  }
  return out;
}

/**
 * Every v3 Envoy API file whose imports the package ships, resolved: the schema envoy.yaml must
 * satisfy. Files needing protos the package omits (opencensus, ...) are left out, so a config using
 * them fails as "unknown type" rather than passing unchecked.
 */
export function loadEnvoyApi(): protobuf.Root {
  const usable = new Map<string, boolean>();
  const isUsable = (file: string, trail: Set<string> = new Set()): boolean => {
    const known = usable.get(file);
    if (known !== undefined) return known;
    if (file in protobuf.common || trail.has(file)) return true;
    const located = locate(file);
    if (!located || !existsSync(located)) return false;
    trail.add(file);
    const imports = [...readFileSync(located, "utf8").matchAll(/^import\s+(?:public\s+|weak\s+)?"([^"]+)";/gm)].map((m) => m[1] ?? "");
    const ok = imports.every((imported) => isUsable(imported, trail));
    usable.set(file, ok);
    return ok;
  };
  const envoyRoot = path.join(XDS_DEPS, "envoy-api");
  const files = walk(path.join(envoyRoot, "envoy"))
    .map((file) => path.relative(envoyRoot, file))
    .filter((file) => file.includes("/v3/") && isUsable(file));
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target in protobuf.common ? target : (locate(target) ?? target));
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  return root;
}
