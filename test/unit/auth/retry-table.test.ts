import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { AuthService } from "../../../src/gen/auth/v1/auth_pb.js";

const README = readFileSync(fileURLToPath(new URL("../../../README.md", import.meta.url)), "utf8");

/** The RPC names in the first column of the README's "Retrying" table. */
function documented(): string[] {
  const section = README.slice(README.indexOf("### Retrying"));
  const table = section.slice(0, section.indexOf("\n\n", section.indexOf("| RPC |")));
  return table
    .split("\n")
    .filter((line) => line.startsWith("| `"))
    .flatMap((line) => [...(line.split("|")[1] ?? "").matchAll(/`(\w+)`/g)].map((m) => m[1]!));
}

describe("the README's Retrying table", () => {
  it("says for every AuthService RPC, once, whether a client may retry it", () => {
    const rpcs = AuthService.methods.map((m) => m.name);
    expect(documented().sort()).toEqual([...rpcs].sort());
  });
});

describe("the gateways", () => {
  const repoFile = (p: string) => readFileSync(fileURLToPath(new URL(`../../../${p}`, import.meta.url)), "utf8");

  it("repeat no RPC that may have run (the table is the client's to apply)", () => {
    // Envoy may retry an RPC only when it never reached an auth instance.
    const config = parse(repoFile("envoy/envoy.yaml"), { maxAliasCount: -1 }) as Record<string, any>;
    const unsent = new Set(["connect-failure", "refused-stream", "reset-before-request"]);
    for (const listener of config.static_resources.listeners) {
      for (const route of listener.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes as Array<Record<string, any>>) {
        const target = String(route.match.path ?? route.match.prefix);
        if (!/^\/auth\.v1\.(AuthService|PasskeyService)\//.test(target)) continue;
        const retryOn = String(route.route?.retry_policy?.retry_on ?? "").split(",").filter((c) => c !== "");
        expect(retryOn.filter((condition) => !unsent.has(condition)), target).toEqual([]);
      }
    }
    // nginx never passes a POST to another upstream unless told to with `non_idempotent`.
    expect(repoFile("nginx/nginx.conf.template")).not.toMatch(/non_idempotent/);
  });
});
