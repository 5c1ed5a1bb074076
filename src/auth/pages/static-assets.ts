import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { Req, Res } from "./forms.js";
import { PASSKEY_SCRIPT } from "./passkey-script.js";

/**
 * The scripts the passkey pages load, served from our own origin so the CSP stays
 * `script-src 'nonce-...'` with no third-party host: @simplewebauthn/browser's UMD bundle
 * (read once from the installed package) and our few lines that drive it.
 */
export function createStaticAssets() {
  const packageMain = createRequire(import.meta.url).resolve("@simplewebauthn/browser");
  const bundle = readFileSync(path.join(path.dirname(packageMain), "..", "dist", "bundle", "index.umd.min.js"), "utf8");
  const assets: Record<string, string> = {
    "/assets/webauthn-browser.js": bundle,
    "/assets/passkeys.js": PASSKEY_SCRIPT,
  };
  return {
    handle(req: Req, res: Res): boolean {
      const body = assets[(req.url ?? "").split("?", 1)[0] ?? ""];
      if (body === undefined || (req.method !== "GET" && req.method !== "HEAD")) return false;
      res.writeHead(200, {
        "content-type": "text/javascript; charset=utf-8",
        "cache-control": "public, max-age=3600",
        "x-content-type-options": "nosniff",
      });
      res.end(req.method === "HEAD" ? undefined : body);
      return true;
    },
  };
}
