import { describe, expect, it } from "vitest";
import { clientNetwork } from "../../../src/platform/client-network.js";

describe("the network a per-IP budget counts", () => {
  it.each([
    ["198.51.100.7", "198.51.100.7"],
    ["2001:db8:7:42::1", "2001:db8:7:42::/64"],
    ["2001:0db8:0007:0042:ffff:1:2:3", "2001:db8:7:42::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["64:ff9b::192.0.2.1", "64:ff9b:0:0::/64"],
  ])("%s counts as %s", (ip, network) => expect(clientNetwork(ip)).toBe(network));
});
