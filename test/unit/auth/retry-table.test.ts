import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
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

  it("retry no RPC on their own (the table is the client's to apply)", () => {
    expect(repoFile("envoy/envoy.yaml")).not.toMatch(/retry_policy|retry_on/);
    // nginx never passes a POST to another upstream unless told to with `non_idempotent`.
    expect(repoFile("nginx/nginx.conf.template")).not.toMatch(/non_idempotent/);
  });
});
