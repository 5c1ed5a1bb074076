import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { locateEnvoy } from "../../../src/stack/envoy-install.js";
import { validateEnvoyConfig } from "../../../src/stack/gateway.js";
import { renderEnvoyConfig } from "../../../src/stack/gateway-config.js";
import { SAMPLE_TARGETS } from "../../support/gateway-targets.js";

const TEMPLATE = readFileSync(path.resolve(import.meta.dirname, "../../../envoy/envoy.yaml"), "utf8");
const targets = SAMPLE_TARGETS;

/** Envoy's own loader on the config the launcher renders: what the proto check cannot see (extensions, cross-references). */
describe("envoy --mode validate", () => {
  const location = locateEnvoy();
  const dir = mkdtempSync(path.join(tmpdir(), "envoy-validate-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const validate = (name: string, text: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    if (!("binary" in location)) throw new Error(location.problem);
    return validateEnvoyConfig(location.binary, file);
  };

  it("accepts the rendered config, with and without the Check", () => {
    for (const withoutCheck of [false, true]) {
      const result = validate(`envoy-${withoutCheck}.json`, renderEnvoyConfig(TEMPLATE, targets, { adminPort: 19901, withoutCheck }));
      expect(result.ok, result.output).toBe(true);
    }
  });

  it("accepts it with tracing to a collector by address and by name", () => {
    for (const tracesUrl of ["http://127.0.0.1:4318/v1/traces", "http://otel-collector:4318/v1/traces"]) {
      const result = validate("envoy-traced.json", renderEnvoyConfig(TEMPLATE, targets, { adminPort: 19901, tracesUrl }));
      expect(result.ok, result.output).toBe(true);
    }
  });

  it("rejects a config Envoy cannot load (so the check above can fail)", () => {
    const broken = JSON.parse(renderEnvoyConfig(TEMPLATE, targets, { adminPort: 19901 }));
    broken.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.cluster = "no-such-cluster";
    const result = validate("broken.json", JSON.stringify(broken));
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/no-such-cluster/);
  });
});
