import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

/**
 * The bench measures what production runs: the services as dist/main-*.js under plain node, and the
 * ceilings compiled the same way, so neither side carries tsx's loader thread in its RSS or its start.
 */
export interface CompiledBench {
  /** The ceiling's compiled entry, for `node <entry>`: `name` is its file in bench/ceilings/ without `.ts`. */
  ceiling(name: string): string;
}

// Outside dist/ (the production build, which `npm run build` wipes) but in the repository, so the
// compiled ceilings find node_modules as the sources do.
const CEILINGS_OUT = ".stack/bench-build";
const SERVICES = ["main-auth", "main-authz"];

/** Newest modification time of the TypeScript sources under `dir` (recursive), in ms. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

const builtAt = (file: string) => (existsSync(file) ? statSync(file).mtimeMs : 0);

/** Builds dist/ if any source or compiler setting is newer than its entry points, then compiles the ceilings. */
export function ensureCompiled(repoRoot: string, progress: (what: string) => void): CompiledBench {
  const at = (...parts: string[]) => path.join(repoRoot, ...parts);
  const settings = Math.max(...["tsconfig.json", "tsconfig.build.json", "package-lock.json"].map((file) => builtAt(at(file))));
  const sources = Math.max(newestSource(at("src")), settings);
  const services = Math.min(...SERVICES.map((main) => builtAt(at("dist", `${main}.js`))));
  if (services < sources) {
    progress("dist/ is older than the sources: npm run build");
    execFileSync("npm", ["run", "-s", "build"], { cwd: repoRoot, stdio: ["ignore", "inherit", "inherit"] });
  }
  // Every run: a handful of files, and a stale copy would measure another ceiling.
  execFileSync(process.execPath, [at("node_modules", "typescript", "bin", "tsc"), "-p", at("bench", "tsconfig.ceilings.json")], { cwd: repoRoot, stdio: ["ignore", "inherit", "inherit"] });
  return { ceiling: (name) => at(CEILINGS_OUT, "bench", "ceilings", `${name}.js`) };
}
