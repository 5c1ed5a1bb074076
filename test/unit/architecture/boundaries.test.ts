import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { dockerfileCopies } from "../../support/compose-file.js";

const REPO = path.resolve(import.meta.dirname, "../../..");
const SRC = path.join(REPO, "src");
const PACKAGE = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as { dependencies: Record<string, string> };

/** Every TypeScript file under src, by path relative to the repo, with what it imports. */
function sources(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".ts")) {
        const text = readFileSync(full, "utf8");
        // Static imports and re-exports (`from "x"`), side-effect imports (`import "x"`) and dynamic ones.
        const specifiers = [...text.matchAll(/\bfrom\s+"([^"]+)"|\bimport\s+"([^"]+)"|\bimport\("([^"]+)"\)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? "");
        out.set(path.relative(REPO, full), specifiers);
      }
    }
  };
  walk(SRC);
  return out;
}

const FILES = sources();
const local = (from: string, specifier: string) => path.relative(REPO, path.resolve(REPO, path.dirname(from), specifier)).replace(/\.js$/, ".ts");
const isLocal = (specifier: string) => specifier.startsWith(".");
const packageOf = (specifier: string) => (specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : (specifier.split("/")[0] ?? ""));

function importsOf(file: string): string[] {
  return (FILES.get(file) ?? []).filter(isLocal).map((s) => local(file, s));
}

/** The local files an entry point loads, itself included. */
function closure(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    importsOf(file).forEach(visit);
  };
  visit(entry);
  return seen;
}

const PRODUCTION_ENTRIES = ["src/main-auth.ts", "src/main-authz.ts", "src/main-mail-worker.ts", "src/main-migrate.ts", "src/main-oauth.ts", "src/main-ratelimit.ts", "src/main-admin.ts"];

describe("module boundaries", () => {
  it("keeps the auth service, the authz server and the rate limit service apart: what they share lives in src/contract, which imports none of them", () => {
    const crossings: string[] = [];
    for (const file of FILES.keys()) {
      const forbidden = file.startsWith("src/authz/")
        ? ["src/auth/", "src/ratelimit/"]
        : file.startsWith("src/auth/")
          ? ["src/authz/", "src/ratelimit/"]
          : file.startsWith("src/ratelimit/")
            ? ["src/auth/", "src/authz/"]
            : file.startsWith("src/contract/")
              ? ["src/auth/", "src/authz/", "src/ratelimit/", "src/stack/"]
              : [];
      for (const target of importsOf(file)) if (forbidden.some((prefix) => target.startsWith(prefix))) crossings.push(`${file} -> ${target}`);
    }
    expect(crossings).toEqual([]);
  });

  it("resolves every local import to a file", () => {
    const missing = [...FILES.keys()].flatMap((file) => importsOf(file).filter((target) => !FILES.has(target)).map((t) => `${file} -> ${t}`));
    expect(missing).toEqual([]);
  });

  it("ships production processes without the launcher, its helpers or development dependencies, compiled, with what they read", () => {
    const runtime = dockerfileCopies().runtime ?? [];
    for (const entry of PRODUCTION_ENTRIES) {
      const files = closure(entry);
      const launcher = [...files].filter((f) => f.startsWith("src/stack/") || f.startsWith("src/example/") || f === "src/main-start.ts");
      expect(launcher, `${entry} loads launcher code`).toEqual([]);
      const packages = new Set([...files].flatMap((f) => (FILES.get(f) ?? []).filter((s) => !isLocal(s) && !s.startsWith("node:")).map(packageOf)));
      const undeclared = [...packages].filter((name) => !(name in PACKAGE.dependencies));
      expect(undeclared, `${entry} needs packages that are not production dependencies`).toEqual([]);
    }
    // The image runs the compiled entry points (tsconfig.build.json) and holds what they read from disk.
    const build = JSON.parse(readFileSync(path.join(REPO, "tsconfig.build.json"), "utf8").replace(/^\s*\/\/.*$/gm, "")) as { include: string[] };
    expect(build.include.sort()).toEqual([...PRODUCTION_ENTRIES].sort());
    for (const needed of ["dist", "migrations", "proto", "envoy/api", "data"]) expect(runtime, needed).toContain(needed);
    for (const helper of ["smtp-server", "mailparser", "yaml"]) expect(PACKAGE.dependencies, helper).not.toHaveProperty(helper);
  });
});
