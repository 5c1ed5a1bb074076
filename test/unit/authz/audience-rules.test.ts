import { describe, expect, it } from "vitest";
import { createAudiencePolicy, readAudienceRules } from "../../../src/authz/audience-rules.js";
import { EnvReader } from "../../../src/platform/config.js";

const read = (value: string) => {
  const problems: string[] = [];
  return { rules: readAudienceRules(new EnvReader({ AUTHZ_AUDIENCE_RULES: value }, problems), "auth-platform"), problems };
};

describe("audience rules", () => {
  it("reads /prefix=audience pairs and names a malformed one", () => {
    expect(read("/example/=urn:a, /api/v2/=https://api.example").rules).toEqual([
      { prefix: "/example/", audience: "urn:a" },
      { prefix: "/api/v2/", audience: "https://api.example" },
    ]);
    expect(read("example=urn:a,/x=").problems).toEqual([
      'AUTHZ_AUDIENCE_RULES: "example=urn:a" must be /prefix=<audience>',
      'AUTHZ_AUDIENCE_RULES: "/x=" must be /prefix=<audience>',
    ]);
    expect(read("/api/=auth-platform").problems).toEqual([
      'AUTHZ_AUDIENCE_RULES: "/api/=auth-platform" names AUTH_AUDIENCE, the audience of the platform\'s own tokens, which pass everywhere already',
    ]);
  });

  it("accepts an audience only under its own longest prefix, and nowhere on a path an upstream may read otherwise", () => {
    const policy = createAudiencePolicy(read("/api/=urn:a,/api/admin/=urn:admin").rules);
    expect(policy.audiences).toEqual(["urn:a", "urn:admin"]);
    expect(policy.accepts("/api/orders", "urn:a")).toBe(true);
    expect(policy.accepts("/API/orders", "urn:a")).toBe(true);
    expect(policy.accepts("/api/admin/users", "urn:a")).toBe(false);
    expect(policy.accepts("/api/admin/users", "urn:admin")).toBe(true);
    expect(policy.accepts("/api/%61dmin/users", "urn:a")).toBe(false);
    expect(policy.accepts("/api/..%2fadmin", "urn:a")).toBe(false);
    expect(policy.accepts("/api/../other", "urn:a")).toBe(false);
    expect(policy.accepts("/other", "urn:a")).toBe(false);
    expect(createAudiencePolicy([]).accepts("/api/", "urn:a")).toBe(false);
  });
});
