import { existsSync } from "node:fs";
import path from "node:path";
import { parseDuration } from "../platform/duration.js";
import { EnvReader, type Env } from "../platform/config.js";
import { StackConfigError } from "./config.js";

/** Envoy's HTTPS listener. */
export interface EdgeTlsConfig {
  /** GATEWAY_TLS_PORT, default 8443: the HTTPS listener beside GATEWAY_PORT's plain one. */
  port: number;
  /**
   * GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE, both or neither: the operator's own certificate
   * chain and key (PEM). Neither: a certificate from the launcher's local CA (ensureLocalCertificate).
   */
  files?: { certFile: string; keyFile: string };
}

/** Envoy's per-instance flood guard (local rate limit): `tokens` requests per `fillIntervalMs`, or off. */
export type FloodGuard = { tokens: number; fillIntervalMs: number } | "off";

export interface EdgeConfig {
  tls: EdgeTlsConfig;
  /** GATEWAY_FLOOD_GUARD: `<requests>/<interval>` such as 10000/1s, or off. Default: envoy.yaml's (10000/1s). */
  floodGuard?: FloodGuard;
}

/** The launcher's settings for Envoy's edge (HTTPS, flood guard) from env, pure; every problem named at once. */
export function loadEdgeConfig(env: Env): EdgeConfig {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);
  const port = read.integer("GATEWAY_TLS_PORT", 8443, 1, 65535);
  const certFile = read.string("GATEWAY_TLS_CERT_FILE", "") || undefined;
  const keyFile = read.string("GATEWAY_TLS_KEY_FILE", "") || undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) read.report("GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE go together: set both or neither");
  for (const [name, file] of [["GATEWAY_TLS_CERT_FILE", certFile], ["GATEWAY_TLS_KEY_FILE", keyFile]] as const) {
    if (file !== undefined && !existsSync(file)) read.report(`${name}: no file at ${file}`);
  }
  const floodGuard = readFloodGuard(read.string("GATEWAY_FLOOD_GUARD", "") || undefined, read);
  if (problems.length > 0) throw new StackConfigError(problems);
  return {
    tls: { port, ...(certFile && keyFile ? { files: { certFile: path.resolve(certFile), keyFile: path.resolve(keyFile) } } : {}) },
    ...(floodGuard ? { floodGuard } : {}),
  };
}

function readFloodGuard(raw: string | undefined, read: EnvReader): FloodGuard | undefined {
  if (raw === undefined) return undefined;
  if (raw === "off") return "off";
  const match = /^(\d{1,9})\/(.+)$/.exec(raw);
  const tokens = Number(match?.[1] ?? 0);
  const fillIntervalMs = match?.[2] ? parseDuration(match[2]) : undefined;
  // Envoy's token bucket refills at most every 50 ms.
  if (tokens < 1 || fillIntervalMs === undefined || fillIntervalMs < 50) {
    read.report(`GATEWAY_FLOOD_GUARD: expected <requests>/<interval> such as 10000/1s (interval at least 50ms), or off; got "${raw}"`);
    return undefined;
  }
  return { tokens, fillIntervalMs };
}
