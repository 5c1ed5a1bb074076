import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { XDS_DEPS } from "../../support/envoy-api.js";

const VENDORED = path.resolve(import.meta.dirname, "../../../envoy/api");
const UPSTREAM_ROOTS = ["envoy-api", "googleapis", "protoc-gen-validate", "xds"].map((dir) => path.join(XDS_DEPS, dir));

describe("envoy/api (the ext_authz and rate limit protos the servers load)", () => {
  const files = readdirSync(VENDORED, { recursive: true, encoding: "utf8" }).filter((file) => file.endsWith(".proto"));

  it("are byte-for-byte Envoy's data-plane-api files, so the server is wire-compatible with Envoy", () => {
    expect(files).toContain(path.join("envoy", "service", "auth", "v3", "external_auth.proto"));
    expect(files).toContain(path.join("envoy", "service", "ratelimit", "v3", "rls.proto"));
    for (const file of files) {
      const upstream = UPSTREAM_ROOTS.map((root) => path.join(root, file)).find((candidate) => {
        try {
          return readFileSync(candidate, "utf8") !== undefined;
        } catch {
          return false;
        }
      });
      expect(upstream, file).toBeDefined();
      expect(readFileSync(path.join(VENDORED, file), "utf8"), file).toBe(readFileSync(upstream ?? "", "utf8"));
    }
  });

  it("are the whole import closure of external_auth.proto and rls.proto", () => {
    const have = new Set(files);
    for (const file of files) {
      for (const [, imported = ""] of readFileSync(path.join(VENDORED, file), "utf8").matchAll(/^import\s+(?:public\s+)?"([^"]+)";/gm)) {
        if (!imported.startsWith("google/protobuf/")) expect(have.has(imported), `${file} imports ${imported}`).toBe(true);
      }
    }
  });
});
