import { describe, expect, it } from "vitest";
import { safeReturnTo } from "../../../src/auth/pages/return-to.js";

describe("safeReturnTo", () => {
  it.each(["/", "/example/", "/app?x=1#y", "/a/b%2F..%2F"])("keeps the local path %j", (path) => expect(safeReturnTo(path)).toBe(path));

  it.each([null, undefined, "", "https://evil.example/", "//evil.example", "/\\evil.example", "\\\\evil", "javascript:alert(1)", "/ok\r\nSet-Cookie: x=1", "/x\u0000", `/${"a".repeat(3000)}`, "evil.example"])(
    "sends %j home instead",
    (candidate) => expect(safeReturnTo(candidate)).toBe("/"),
  );
});
