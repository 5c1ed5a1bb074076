import { describe, expect, it } from "vitest";
import { clientIp } from "../../../src/platform/request-context.js";

describe("clientIp", () => {
  it("uses the socket peer and ignores X-Forwarded-For from an untrusted peer", () => {
    expect(clientIp("203.0.113.9", "1.2.3.4", [])).toBe("203.0.113.9");
    expect(clientIp("::ffff:203.0.113.9", "1.2.3.4", ["127.0.0.1"])).toBe("203.0.113.9");
  });

  it("takes the right-most hop a trusted proxy did not add", () => {
    // A client can prepend anything; only what our proxies appended is believed.
    expect(clientIp("127.0.0.1", "6.6.6.6, 198.51.100.7", ["127.0.0.1"])).toBe("198.51.100.7");
    expect(clientIp("127.0.0.1", "6.6.6.6, 198.51.100.7, 10.0.0.2", ["127.0.0.1", "10.0.0.2"])).toBe("198.51.100.7");
    expect(clientIp("127.0.0.1", "", ["127.0.0.1"])).toBe("127.0.0.1");
  });
});
