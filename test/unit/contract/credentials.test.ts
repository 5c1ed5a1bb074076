import { describe, expect, it } from "vitest";
import { cookieValue, parseBearer } from "../../../src/contract/credentials.js";
import { deviceFingerprint, deviceMatches } from "../../../src/contract/device-fingerprint.js";

const JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2ln";

describe("parseBearer", () => {
  it("says why a Bearer is not one of our tokens", () => {
    expect(parseBearer(`Bearer ${JWT}`)).toEqual({ kind: "token", token: JWT });
    expect(parseBearer(undefined)).toEqual({ kind: "none" });
    expect(parseBearer("Basic dTpw")).toEqual({ kind: "none" });
    expect(parseBearer("Bearer ")).toEqual({ kind: "malformed", reason: "empty" });
    expect(parseBearer("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1In0.")).toEqual({ kind: "malformed", reason: "not_a_jwt" });
    expect(parseBearer(`Bearer ${"a".repeat(5000)}`)).toEqual({ kind: "malformed", reason: "too_long" });
  });
});

describe("cookieValue", () => {
  it("reads a quoted and an unquoted cookie alike", () => {
    expect(cookieValue('auth_session="abc.def"', "auth_session")).toBe("abc.def");
    expect(cookieValue("auth_session=abc.def", "auth_session")).toBe("abc.def");
    expect(cookieValue('auth_session="', "auth_session")).toBe('"');
    expect(cookieValue(undefined, "auth_session")).toBeUndefined();
  });
});

describe("device fingerprints", () => {
  const headers = (ua: string, lang: string) => (name: string) => (name === "user-agent" ? ua : lang);

  it("bind to the configured attributes only, and change when the configuration does", () => {
    const both = deviceFingerprint(["user-agent", "accept-language"], headers("UA", "en"));
    expect(deviceFingerprint(["user-agent", "accept-language"], headers("UA", "en"))).toBe(both);
    expect(deviceFingerprint(["user-agent", "accept-language"], headers("UA", "fr"))).not.toBe(both);
    expect(deviceFingerprint(["user-agent"], headers("UA", "fr"))).toBe(deviceFingerprint(["user-agent"], headers("UA", "en")));
    expect(deviceFingerprint(["user-agent"], headers("UA", "en"))).not.toBe(both);
  });

  it("hold a session opened while binding was off to its recorded User-Agent", () => {
    const old = { fingerprint: undefined, userAgent: "UA" };
    expect(deviceMatches(["user-agent", "accept-language"], headers("UA", "fr"), old)).toBe(true);
    expect(deviceMatches(["user-agent", "accept-language"], headers("Other", "fr"), old)).toBe(false);
    expect(deviceMatches([], headers("Other", "fr"), { fingerprint: undefined, userAgent: "UA" })).toBe(true);
  });

  it("hold a bound session to its own attributes, even where this instance does not bind", () => {
    const recorded = deviceFingerprint(["user-agent", "accept-language"], headers("UA", "en"));
    expect(recorded).toMatch(/^user-agent,accept-language:[A-Za-z0-9_-]{43}$/);
    const bound = { fingerprint: recorded, userAgent: "UA" };
    for (const here of [[], ["user-agent"]] as const) {
      expect(deviceMatches(here, headers("UA", "en"), bound)).toBe(true);
      expect(deviceMatches(here, headers("UA", "fr"), bound)).toBe(false);
    }
    expect(deviceMatches([], headers("UA", "en"), { fingerprint: "made-up", userAgent: "UA" })).toBe(false);
  });
});
