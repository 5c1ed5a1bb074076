import { describe, expect, it } from "vitest";
import { loadInstanceCounts } from "../../../src/stack/app-instances.js";

describe("loadInstanceCounts", () => {
  it("runs two of each by default, so one can die without an outage", () => {
    expect(loadInstanceCounts({})).toEqual({ auth: 2, authz: 2 });
    expect(loadInstanceCounts({ AUTH_INSTANCES: "3", AUTHZ_INSTANCES: " 1 " })).toEqual({ auth: 3, authz: 1 });
  });

  it("names every bad variable at once", () => {
    expect(() => loadInstanceCounts({ AUTH_INSTANCES: "0", AUTHZ_INSTANCES: "two" })).toThrow(/AUTH_INSTANCES must be an integer from 1 to 16, got "0"[\s\S]*AUTHZ_INSTANCES must be an integer from 1 to 16, got "two"/);
    expect(() => loadInstanceCounts({ AUTH_INSTANCES: "17" })).toThrow(/AUTH_INSTANCES/);
  });
});
