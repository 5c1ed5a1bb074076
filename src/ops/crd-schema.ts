/**
 * JSON schemas for kubeconform, from two sources:
 *
 * - a CustomResourceDefinition's openAPIV3Schema per served version, converted as kubeconform's
 *   own openapi2jsonschema.py does it: `x-kubernetes-int-or-string` becomes "string or integer"
 *   and, in strict mode, every object that lists its properties refuses others (unless the CRD
 *   says `x-kubernetes-preserve-unknown-fields`), so a misspelt field fails instead of passing;
 * - kubernetes-validate's per-kind schemas, whose `$id`s and `/api/_definitions.json` references
 *   point at kubernetes.io: rewritten to the file beside them, so nothing is fetched.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export interface CustomResourceDefinition {
  kind: string;
  spec: {
    group: string;
    names: { kind: string };
    versions: Array<{ name: string; served?: boolean; schema?: { openAPIV3Schema?: JsonObject } }>;
  };
}

export interface CrdJsonSchema {
  group: string;
  kind: string;
  version: string;
  schema: JsonObject;
}

const isObject = (value: Json | undefined): value is JsonObject => typeof value === "object" && value !== null && !Array.isArray(value);

/** Keywords whose value is one schema, and those whose value is a list or map of schemas. */
const SCHEMA_KEYWORDS = ["items", "additionalProperties", "not"] as const;
const SCHEMA_LIST_KEYWORDS = ["allOf", "anyOf", "oneOf"] as const;

export function strictSchema(node: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "properties" && isObject(value)) {
      out.properties = Object.fromEntries(Object.entries(value).map(([name, child]) => [name, isObject(child) ? strictSchema(child) : child]));
    } else if ((SCHEMA_KEYWORDS as readonly string[]).includes(key) && isObject(value)) {
      out[key] = strictSchema(value);
    } else if ((SCHEMA_LIST_KEYWORDS as readonly string[]).includes(key) && Array.isArray(value)) {
      out[key] = value.map((child) => (isObject(child) ? strictSchema(child) : child));
    } else {
      out[key] = value;
    }
  }
  if (out["x-kubernetes-int-or-string"] === true) {
    delete out.type;
    out.oneOf = [{ type: "string" }, { type: "integer" }];
  }
  if (isObject(out.properties) && !("additionalProperties" in out) && out["x-kubernetes-preserve-unknown-fields"] !== true) {
    out.additionalProperties = false;
  }
  return out;
}

export function crdToJsonSchemas(crd: CustomResourceDefinition): CrdJsonSchema[] {
  return crd.spec.versions
    .filter((version) => version.served !== false && version.schema?.openAPIV3Schema)
    .map((version) => ({
      group: crd.spec.group,
      kind: crd.spec.names.kind,
      version: version.name,
      schema: strictSchema(version.schema!.openAPIV3Schema!),
    }));
}

function rewriteRefs(node: Json): Json {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "$id") continue;
    out[key] = key === "$ref" && typeof value === "string" ? value.replace(/^\/api\/_definitions\.json/, "_definitions.json") : rewriteRefs(value);
  }
  return out;
}

export function kubernetesSchemaFromOpenApi(schema: unknown): Json {
  return rewriteRefs(schema as Json);
}
