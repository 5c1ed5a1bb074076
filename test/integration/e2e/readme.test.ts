import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniqueEmail } from "../../support/auth.js";
import { startTopology, type TestGateway, type TestTopology } from "../../support/gateway.js";

const README = fileURLToPath(new URL("../../../README.md", import.meta.url));

/** The "Try it" block of the README, as a user would paste it. */
function tryItBlock(): string {
  const text = readFileSync(README, "utf8");
  const start = text.indexOf("```sh\ncurl -s -X POST", text.indexOf("Try it"));
  const end = text.indexOf("```", start + 5);
  if (start < 0 || end < 0) throw new Error("README has no Try it block");
  return text.slice(start + "```sh\n".length, end);
}

describe("the README's Try it block", () => {
  let topology: TestTopology;
  let gateway: TestGateway;

  beforeAll(async () => {
    topology = await startTopology();
    gateway = await topology.addGateway(1);
  });
  afterAll(async () => {
    await topology?.close();
  });

  it("runs as written through the Envoy gateway", async () => {
    const email = uniqueEmail("readme");
    const script = tryItBlock()
      .replaceAll("http://127.0.0.1:8080", gateway.url)
      .replaceAll("ada@example.com", email)
      .replaceAll("/tmp/tokens.json", `/tmp/readme-tokens-${process.pid}.json`);
    expect(script).not.toContain(":7001");
    // Asynchronously: the servers answering curl live in this very process.
    const run = await promisify(execFile)("bash", ["-euo", "pipefail", "-c", script], { encoding: "utf8", timeout: 30_000 });
    const lines = run.stdout.split(/\r?\n|(?<=\})(?=\{)/).filter((line) => line.trim() !== "");
    const [signUp, signIn, me, example, jwks] = lines.map((line) => JSON.parse(line));
    expect(signUp).toEqual({});
    expect(signIn).toMatchObject({ tokenType: "Bearer", accessToken: expect.any(String) });
    expect(me.user.email).toBe(email);
    expect(example).toMatchObject({ service: "example", path: "/example/hello", identity: { userId: me.user.id } });
    expect(jwks.keys.length).toBeGreaterThan(0);
  });
});
