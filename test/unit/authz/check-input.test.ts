import { describe, expect, it } from "vitest";
import { headerMap, isBrowserNavigation, isCanonicalPath, splitTarget } from "../../../src/authz/check-input.js";
import { cookieValue as cookieIn, parseBearer } from "../../../src/contract/credentials.js";

const h = (pairs: Record<string, string>) => headerMap(Object.entries(pairs));
// The shared parsers as the Check applies them: to the header map Envoy's and nginx's requests become.
const bearerToken = (headers: ReadonlyMap<string, string>) => {
  const result = parseBearer(headers.get("authorization"));
  return result.kind === "malformed" ? { kind: result.kind } : result;
};
const cookieValue = (headers: ReadonlyMap<string, string>, name: string) => cookieIn(headers.get("cookie"), name);
const JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2ln";

describe("bearerToken", () => {
  it("takes a compact JWT after a case-insensitive Bearer", () => {
    expect(bearerToken(h({ authorization: `Bearer ${JWT}` }))).toEqual({ kind: "token", token: JWT });
    expect(bearerToken(h({ Authorization: `bearer  ${JWT}` }))).toEqual({ kind: "token", token: JWT });
  });

  it("tells a missing header and another scheme from a malformed bearer", () => {
    expect(bearerToken(h({}))).toEqual({ kind: "none" });
    expect(bearerToken(h({ authorization: "Basic dTpw" }))).toEqual({ kind: "none" });
    expect(bearerToken(h({ authorization: "Bearer" }))).toEqual({ kind: "malformed" });
    expect(bearerToken(h({ authorization: "Bearer not-a-jwt" }))).toEqual({ kind: "malformed" });
    expect(bearerToken(h({ authorization: `Bearer ${JWT} extra` }))).toEqual({ kind: "malformed" });
    expect(bearerToken(h({ authorization: `Bearer ${"a".repeat(5000)}.b.c` }))).toEqual({ kind: "malformed" });
  });
});

describe("cookieValue", () => {
  it("finds the named cookie among others, unquoting it", () => {
    const headers = h({ cookie: 'a=1; auth_session=abc; b="x"' });
    expect(cookieValue(headers, "auth_session")).toBe("abc");
    expect(cookieValue(headers, "b")).toBe("x");
    expect(cookieValue(headers, "missing")).toBeUndefined();
  });

  it("joins repeated Cookie headers and takes the first match", () => {
    const headers = headerMap([
      ["cookie", "auth_session=first"],
      ["Cookie", "auth_session=second"],
    ]);
    expect(cookieValue(headers, "auth_session")).toBe("first");
  });

  it("does not match a cookie whose name merely ends with the wanted one", () => {
    expect(cookieValue(h({ cookie: "xauth_session=evil" }), "auth_session")).toBeUndefined();
  });

  it("ignores an oversized Cookie header", () => {
    expect(cookieValue(h({ cookie: `auth_session=a; pad=${"x".repeat(20_000)}` }), "auth_session")).toBeUndefined();
  });
});

describe("paths", () => {
  it("splits targets and drops fragments", () => {
    expect(splitTarget("/a/b?x=1#f")).toEqual({ path: "/a/b", query: "x=1" });
    expect(splitTarget("")).toEqual({ path: "/", query: "" });
  });

  it("accepts only canonical paths", () => {
    expect(isCanonicalPath("/signin")).toBe(true);
    for (const path of ["/signin/../example", "/signin/%2e%2e/x", "/signin%2Fx", "//evil.example", "/a\\b", "/./a", "relative"]) {
      expect(isCanonicalPath(path), path).toBe(false);
    }
  });
});

describe("isBrowserNavigation", () => {
  const input = (method: string, accept: string) => ({ method, path: "/", query: "", host: "", headers: h({ accept }) });
  it("is a GET or HEAD accepting HTML", () => {
    expect(isBrowserNavigation(input("GET", "text/html,application/xhtml+xml,*/*;q=0.8"))).toBe(true);
    expect(isBrowserNavigation(input("HEAD", "text/html"))).toBe(true);
    expect(isBrowserNavigation(input("POST", "text/html"))).toBe(false);
    expect(isBrowserNavigation(input("GET", "application/json"))).toBe(false);
    expect(isBrowserNavigation(input("GET", "*/*"))).toBe(false);
  });
});

describe("headerMap", () => {
  it("lower-cases names, drops pseudo-headers and bounds values", () => {
    const headers = headerMap([
      [":authority", "x"],
      ["X-Big", "y".repeat(100_000)],
    ]);
    expect(headers.has(":authority")).toBe(false);
    expect(headers.get("x-big")?.length).toBe(65_536);
  });
});
