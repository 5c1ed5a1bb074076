import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface EdgeCertificate {
  certFile: string;
  keyFile: string;
  /** The local CA that signed it, for clients to trust (absent for an operator's own certificate). */
  caFile?: string;
}

// The names a browser or client on this machine uses for the gateway.
const SERVER_NAMES = ["DNS:localhost", "IP:127.0.0.1", "IP:::1"];
const CA_DAYS = 3650;
// Browsers refuse server certificates valid for longer than 398 days (CA/Browser Forum, Apple and Chrome policy).
const SERVER_DAYS = 397;
// Renewed a week before it expires, so a running stack never serves an expired one.
const RENEW_BEFORE_SECONDS = 7 * 86_400;

const openssl = (args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] });
const validFor = (cert: string, seconds: number) => {
  try {
    openssl(["x509", "-in", cert, "-noout", "-checkend", String(seconds)]);
    return true;
  } catch {
    return false;
  }
};
const signedBy = (cert: string, ca: string) => {
  try {
    openssl(["verify", "-CAfile", ca, cert]);
    return true;
  } catch {
    return false;
  }
};

/**
 * A CA generated once into `<dir>/tls/` and a server certificate it signed for localhost,
 * 127.0.0.1 and ::1 (EC P-256). Both are reused while valid, so a browser told to trust the CA
 * keeps trusting the gateway across restarts; the server certificate is renewed near its end.
 * Keys are 0600; `readableBy` (the unprivileged user the gateway runs as) gets the server key.
 */
export function ensureLocalCertificate(dir: string, readableBy?: { uid: number; gid: number }): Required<EdgeCertificate> {
  const tls = path.join(dir, "tls");
  mkdirSync(tls, { recursive: true, mode: 0o700 });
  const files = { caKey: "ca.key", caFile: "ca.crt", keyFile: "server.key", certFile: "server.crt" };
  const at = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, path.join(tls, v)])) as typeof files;

  if (!existsSync(at.caKey) || !existsSync(at.caFile) || !validFor(at.caFile, RENEW_BEFORE_SECONDS)) {
    rmSync(at.certFile, { force: true });
    openssl([
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", at.caKey, "-out", at.caFile, "-days", String(CA_DAYS),
      "-subj", "/O=auth-platform/CN=auth-platform local CA",
      "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
      "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    chmodSync(at.caKey, 0o600);
  }
  if (!existsSync(at.certFile) || !existsSync(at.keyFile) || !validFor(at.certFile, RENEW_BEFORE_SECONDS) || !signedBy(at.certFile, at.caFile)) {
    const csr = path.join(tls, "server.csr");
    const extensions = path.join(tls, "server.ext");
    writeFileSync(
      extensions,
      [
        `subjectAltName=${SERVER_NAMES.join(",")}`,
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth",
        "",
      ].join("\n"),
    );
    openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", at.keyFile, "-out", csr, "-subj", "/O=auth-platform/CN=localhost"]);
    openssl([
      "x509", "-req", "-in", csr, "-CA", at.caFile, "-CAkey", at.caKey,
      // RFC 5280 4.1.2.2: a positive serial, unique per CA: random, as public CAs do.
      "-set_serial", `0x${randomBytes(16).toString("hex").replace(/^[89a-f]/, "7")}`,
      "-days", String(SERVER_DAYS), "-extfile", extensions, "-out", at.certFile,
    ]);
    rmSync(csr, { force: true });
    rmSync(extensions, { force: true });
    chmodSync(at.keyFile, 0o600);
  }
  if (readableBy) {
    // The gateway process opens the server key itself; the CA's key stays the launcher's alone.
    chmodSync(tls, 0o711);
    for (const file of [at.keyFile, at.certFile]) execFileSync("chown", [`${readableBy.uid}:${readableBy.gid}`, file]);
  }
  return { certFile: at.certFile, keyFile: at.keyFile, caFile: at.caFile };
}

/**
 * The operator's files must be readable by the user the gateway runs as (as root: the stack's
 * unprivileged user), or Envoy exits at start with a message about a file, not a variable.
 */
export function assertReadableBy(files: { certFile: string; keyFile: string }, user: { uid: number; gid: number } | undefined): void {
  if (!user) return;
  const unreadable = Object.entries({ GATEWAY_TLS_CERT_FILE: files.certFile, GATEWAY_TLS_KEY_FILE: files.keyFile }).filter(([, file]) => {
    const { mode, uid, gid } = statSync(file);
    return !((uid === user.uid && mode & 0o400) || (gid === user.gid && mode & 0o040) || mode & 0o004);
  });
  if (unreadable.length > 0) {
    const names = unreadable.map(([name, file]) => `${name} (${file})`).join(", ");
    throw new Error(`the gateway runs as uid ${user.uid} and cannot read ${names}: chown or chgrp it to that user, or chmod it readable`);
  }
}

/** The certificate's SHA-256 SubjectPublicKeyInfo hash, base64: what Chromium's --ignore-certificate-errors-spki-list takes. */
export function spkiHash(certFile: string): string {
  const pub = openssl(["x509", "-in", certFile, "-noout", "-pubkey"]);
  const der = execFileSync("openssl", ["pkey", "-pubin", "-outform", "der"], { input: pub });
  return execFileSync("openssl", ["dgst", "-sha256", "-binary"], { input: der }).toString("base64");
}
