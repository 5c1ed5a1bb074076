import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, type TestAuth, startTestAuth, uniqueEmail } from "../../support/auth.js";
import { rejection } from "../../support/rpc-errors.js";

const BREACHED = "a passphrase from a breach corpus";

/**
 * PASSWORD_BREACH_CHECK_URL: the Pwned Passwords range API (k-anonymity), served here by a local
 * server of our own: tests never reach the network.
 */
describe("opt-in breached-password check (k-anonymity range lookup)", () => {
  let auth: TestAuth;
  let range: Server;
  const asked: string[] = [];

  beforeAll(async () => {
    const sha1 = createHash("sha1").update(BREACHED).digest("hex").toUpperCase();
    range = createServer((req, res) => {
      asked.push(req.url ?? "");
      const prefix = /^\/range\/([0-9A-F]{5})$/.exec(req.url ?? "")?.[1];
      res.setHeader("content-type", "text/plain");
      // Padding lines (count 0) as the real API adds with Add-Padding: true.
      res.end(prefix === sha1.slice(0, 5) ? `0018A45C4D1DEF81644B54AB7F969B88D65:0\r\n${sha1.slice(5)}:42\r\n` : "0018A45C4D1DEF81644B54AB7F969B88D65:0\r\n");
    });
    await new Promise<void>((resolve) => range.listen(0, "127.0.0.1", resolve));
    auth = await startTestAuth({ PASSWORD_BREACH_CHECK_URL: `http://127.0.0.1:${(range.address() as { port: number }).port}` });
  });
  afterAll(async () => {
    await auth?.close();
    await new Promise((resolve) => range?.close(resolve));
  });

  it("refuses a password the corpus has seen, sending only the first five hex digits of its SHA-1", async () => {
    const refused = await rejection(auth.client.signUp({ email: uniqueEmail("breached"), password: BREACHED }));
    expect(refused.code).toBe(Code.InvalidArgument);
    expect(refused.rawMessage).toMatch(/data breach/);
    await expect(auth.client.signUp({ email: uniqueEmail("fine"), password: GOOD_PASSWORD })).resolves.toBeDefined();
    expect(asked.length).toBeGreaterThanOrEqual(2);
    for (const url of asked) expect(url).toMatch(/^\/range\/[0-9A-F]{5}$/);
  });
});
