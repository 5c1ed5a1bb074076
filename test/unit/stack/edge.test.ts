import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { X509Certificate } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { StackConfigError } from "../../../src/stack/config.js";
import { loadEdgeConfig } from "../../../src/stack/edge-config.js";
import { assertReadableBy, ensureLocalCertificate, spkiHash } from "../../../src/stack/tls.js";

describe("the edge certificate (src/stack/tls.ts)", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "tls-unit-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("generates a CA once and a server certificate it signed for localhost, 127.0.0.1 and ::1", () => {
    const files = ensureLocalCertificate(dir);
    const ca = new X509Certificate(readFileSync(files.caFile));
    const server = new X509Certificate(readFileSync(files.certFile));
    expect(ca.ca).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.subjectAltName).toBe("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
    expect(server.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]);
    // At most 398 days, or browsers refuse it.
    expect((Date.parse(server.validTo) - Date.parse(server.validFrom)) / 86_400_000).toBeLessThanOrEqual(398);
    for (const key of [path.join(dir, "tls", "ca.key"), files.keyFile]) expect(statSync(key).mode & 0o077).toBe(0);
    expect(spkiHash(files.certFile)).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it("reuses both while valid, and renews a server certificate near its end under the same CA", () => {
    const first = ensureLocalCertificate(dir);
    const [caPem, certPem] = [readFileSync(first.caFile, "utf8"), readFileSync(first.certFile, "utf8")];
    expect(readFileSync(ensureLocalCertificate(dir).certFile, "utf8")).toBe(certPem);

    // A server certificate with a day left, signed by the same CA: inside the renewal window.
    const ext = path.join(dir, "short.ext");
    writeFileSync(ext, "subjectAltName=DNS:localhost\n");
    const csr = path.join(dir, "short.csr");
    execFileSync("openssl", ["req", "-new", "-key", first.keyFile, "-subj", "/CN=localhost", "-out", csr], { stdio: "pipe" });
    execFileSync("openssl", ["x509", "-req", "-in", csr, "-CA", first.caFile, "-CAkey", path.join(dir, "tls", "ca.key"), "-days", "1", "-extfile", ext, "-out", first.certFile], { stdio: "pipe" });
    const renewed = ensureLocalCertificate(dir);
    expect(readFileSync(renewed.caFile, "utf8")).toBe(caPem);
    const server = new X509Certificate(readFileSync(renewed.certFile));
    expect((Date.parse(server.validTo) - Date.now()) / 86_400_000).toBeGreaterThan(300);
    expect(server.checkIssued(new X509Certificate(caPem))).toBe(true);
  });
});

describe("assertReadableBy", () => {
  it("names the operator's file the gateway's user could not read, and passes one it can", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "tls-read-"));
    try {
      const cert = path.join(dir, "edge.crt");
      const key = path.join(dir, "edge.key");
      writeFileSync(cert, "", { mode: 0o644 });
      writeFileSync(key, "", { mode: 0o600 });
      const owner = { uid: statSync(key).uid, gid: statSync(key).gid };
      const stranger = { uid: owner.uid + 4242, gid: owner.gid + 4242 };
      expect(() => assertReadableBy({ certFile: cert, keyFile: key }, stranger)).toThrow(
        `the gateway runs as uid ${stranger.uid} and cannot read GATEWAY_TLS_KEY_FILE (${key}): chown or chgrp it to that user, or chmod it readable`,
      );
      expect(() => assertReadableBy({ certFile: cert, keyFile: key }, owner)).not.toThrow();
      expect(() => assertReadableBy({ certFile: cert, keyFile: key }, { uid: stranger.uid, gid: owner.gid })).toThrow(/GATEWAY_TLS_KEY_FILE/);
      chmodSync(key, 0o640);
      expect(() => assertReadableBy({ certFile: cert, keyFile: key }, { uid: stranger.uid, gid: owner.gid })).not.toThrow();
      // Not root: the gateway runs as us, nothing to check.
      expect(() => assertReadableBy({ certFile: cert, keyFile: key }, undefined)).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("loadEdgeConfig", () => {
  it("defaults to HTTPS on 8443 with the launcher's own certificate, and envoy.yaml's flood guard", () => {
    expect(loadEdgeConfig({})).toEqual({ tls: { port: 8443 } });
  });

  it("reads GATEWAY_FLOOD_GUARD as <requests>/<interval> or off", () => {
    expect(loadEdgeConfig({ GATEWAY_FLOOD_GUARD: "500/250ms" }).floodGuard).toEqual({ tokens: 500, fillIntervalMs: 250 });
    expect(loadEdgeConfig({ GATEWAY_FLOOD_GUARD: "off" }).floodGuard).toBe("off");
    for (const bad of ["0/1s", "100", "100/10ms", "lots/1s"]) expect(() => loadEdgeConfig({ GATEWAY_FLOOD_GUARD: bad }), bad).toThrow(/GATEWAY_FLOOD_GUARD: expected <requests>\/<interval>/);
  });

  it("takes the operator's certificate and key files, both or neither, and names each bad variable", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "tls-conf-"));
    try {
      const cert = path.join(dir, "edge.crt");
      const key = path.join(dir, "edge.key");
      writeFileSync(cert, "");
      writeFileSync(key, "");
      expect(loadEdgeConfig({ GATEWAY_TLS_PORT: "9443", GATEWAY_TLS_CERT_FILE: cert, GATEWAY_TLS_KEY_FILE: key }).tls).toEqual({ port: 9443, files: { certFile: cert, keyFile: key } });
      let error: unknown;
      try {
        loadEdgeConfig({ GATEWAY_TLS_PORT: "https", GATEWAY_TLS_CERT_FILE: path.join(dir, "missing.crt") });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(StackConfigError);
      const message = (error as Error).message;
      expect(message).toContain('GATEWAY_TLS_PORT must be an integer from 1 to 65535, got "https"');
      expect(message).toContain("GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE go together");
      expect(message).toContain(`GATEWAY_TLS_CERT_FILE: no file at ${path.join(dir, "missing.crt")}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
