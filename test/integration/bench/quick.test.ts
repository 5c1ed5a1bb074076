import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

// Every row the README explains; a row that vanishes or prints no number fails here. Timings are never asserted.
const ROWS = [
  "Check, Bearer cached",
  "Check, Bearer uncached (distinct tokens)",
  "Check, cookie cached",
  "Check, cookie uncached (Redis read each Check)",
  "SignIn (argon2id, right password)",
  "SignIn, wrong password (ms)",
  "SignUp, taken email (ms)",
  "RequestPasswordReset, known email (ms)",
  "GetMe, token and profile caches on",
  "GetMe, token and profile caches off",
  "GetMe, caches on vs off",
  "revocation: SignOut returned -> first deny (ms)",
  "gateway: Envoy + Check",
  "gateway: nginx + forward-auth",
  "RSS idle: authz (MiB)",
  "RSS under Check load: authz (MiB)",
  "RSS idle: auth (MiB)",
  "RSS under SignIn load: auth (MiB)",
];

describe("npm run bench -- --quick (the CI smoke run of the one table)", () => {
  let child: ChildProcess | undefined;

  afterAll(() => {
    // The bench stops what it started on SIGTERM; its process group goes if the run outlived the test.
    if (child?.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGTERM");
  });

  it("prints every row with a number in each of its ratio, contender and ceiling cells", async () => {
    child = spawn("npm", ["run", "-s", "bench", "--", "--quick"], { cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child!.once("exit", resolve));
    expect(code, `bench exited ${code}\n${stdout}\n${stderr.slice(-4000)}`).toBe(0);

    const rows = stdout
      .split("\n")
      .filter((line) => line.startsWith("| ") && !line.startsWith("| row |") && !line.startsWith("| ---"))
      .map((line) => line.slice(2, -2).split(" | "));
    for (const name of ROWS) expect(rows.map((cells) => cells[0]), stdout).toContain(name);
    for (const [name, , ratio, , contender, ceiling] of rows) {
      for (const cell of [ratio, contender, ceiling]) expect(Number.isFinite(Number.parseFloat(cell ?? "")), `${name}: "${cell}"\n${stdout}`).toBe(true);
    }
    // Each gateway path's CPU, by program: where a gateway ratio below its target went.
    const breakdown = stdout.slice(stdout.indexOf("Where a gateway request's CPU goes"));
    for (const [path, programs] of [
      ["Envoy + Check", ["authz", "envoy", "upstream", "wrk"]],
      ["Envoy without ext_authz", ["envoy", "upstream", "wrk"]],
      ["nginx + forward-auth", ["authz", "nginx", "upstream", "wrk"]],
      ["upstream direct", ["upstream", "wrk"]],
    ] as const) {
      const line = breakdown.split("\n").find((l) => l.startsWith(`- ${path}: `)) ?? "";
      for (const program of programs) expect(line, `${path}\n${stdout}`).toMatch(new RegExp(`\\b${program} \\d+`));
    }
  }, 300_000);
});
