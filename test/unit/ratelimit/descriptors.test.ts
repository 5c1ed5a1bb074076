import { describe, expect, it } from "vitest";
import { InvalidRateLimitRequest, LIMITS, parseRateLimitRequest, type EnvoyRateLimitRequest } from "../../../src/ratelimit/descriptors.js";

const entry = (key: string, value: string) => ({ key, value });
const parse = (request: EnvoyRateLimitRequest) => parseRateLimitRequest(request, "gateway");
const refusal = (request: EnvoyRateLimitRequest) => {
  try {
    parse(request);
  } catch (error) {
    if (error instanceof InvalidRateLimitRequest) return error.message;
    throw error;
  }
  throw new Error("accepted");
};

describe("parseRateLimitRequest", () => {
  it("reads the two descriptor shapes envoy.yaml sends, in either entry order, and leaves others unmatched", () => {
    expect(
      parse({
        domain: "gateway",
        descriptors: [
          { entries: [entry("route", "signin"), entry("remote_address", "203.0.113.9")] },
          { entries: [entry("remote_address", "2001:db8::1"), entry("route", "signin")] },
          { entries: [entry("route", "signin")] },
          { entries: [entry("remote_address", "203.0.113.9")] },
          { entries: [entry("route", "signin"), entry("remote_address", "203.0.113.9"), entry("path", "/x")] },
        ],
      }),
    ).toEqual({
      domain: "gateway",
      hits: 1,
      descriptors: [
        { kind: "ip", route: "signin", ip: "203.0.113.9" },
        { kind: "ip", route: "signin", ip: "2001:db8::1" },
        { kind: "route", route: "signin" },
        { kind: "unmatched" },
        { kind: "unmatched" },
      ],
    });
    expect(parse({ domain: "gateway", descriptors: [{ entries: [entry("route", "a")] }], hits_addend: 7 }).hits).toBe(7);
  });

  it("refuses hostile or malformed requests with a reason", () => {
    const one = [{ entries: [entry("route", "signin")] }];
    expect(refusal({ descriptors: one })).toBe("domain is required");
    expect(refusal({ domain: "other", descriptors: one })).toBe('unknown domain "other"; this service answers for "gateway"');
    expect(refusal({ domain: "gateway" })).toBe("at least one descriptor is required");
    expect(refusal({ domain: "gateway", descriptors: Array(LIMITS.descriptors + 1).fill(one[0]) })).toBe("at most 16 descriptors, got 17");
    expect(refusal({ domain: "gateway", descriptors: one, hits_addend: 1001 })).toBe("hits_addend must be 0 to 1000");
    expect(refusal({ domain: "gateway", descriptors: [{ entries: [] }] })).toBe("descriptors[0] has no entries");
    expect(refusal({ domain: "gateway", descriptors: [{ entries: Array.from({ length: 9 }, (_, i) => entry(`k${i}`, "v")) }] })).toBe("descriptors[0]: at most 8 entries, got 9");
    expect(refusal({ domain: "gateway", descriptors: [{ entries: [entry("route", "")] }] })).toBe("descriptors[0].entries[0]: key and value must not be empty");
    expect(refusal({ domain: "gateway", descriptors: [{ entries: [entry("k".repeat(65), "v")] }] })).toBe("descriptors[0].entries[0]: key longer than 64 characters");
    expect(refusal({ domain: "gateway", descriptors: [{ entries: [entry("route", "v".repeat(257))] }] })).toBe("descriptors[0].entries[0]: value longer than 256 characters");
    expect(refusal({ domain: "gateway", descriptors: [{ entries: [entry("route", "a"), entry("route", "b")] }] })).toBe('descriptors[0].entries[1]: key "route" appears twice');
    expect(refusal({ domain: "gateway", descriptors: [{ entries: [entry("route", "a")], limit: { requests_per_unit: 1e6, unit: "SECOND" } }] })).toBe(
      "descriptors[0]: limit overrides are not accepted",
    );
  });
});
