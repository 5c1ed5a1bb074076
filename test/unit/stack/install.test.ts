import { describe, expect, it } from "vitest";
import { ensureInstalled, installCommand, type Requirement } from "../../../src/stack/install.js";

const found = (name: string, path: string): Requirement => ({ name, debianPackage: name, locate: () => path });
const absent = (name: string, debianPackage: string, optional = false): Requirement => ({ name, debianPackage, optional, locate: () => undefined });

describe("ensureInstalled", () => {
  it("returns the located programs", () => {
    const bins = ensureInstalled({
      isRoot: false,
      requirements: [found("postgres", "/pg/bin"), found("redis-server", "/r"), found("pgbouncer", "/b"), found("haproxy", "/h"), absent("nginx", "nginx", true)],
    });
    expect(bins).toEqual({ postgresBin: "/pg/bin", redisServer: "/r", pgbouncer: "/b", haproxy: "/h" });
  });

  it("tells a non-root user the exact command, skipping optional programs", () => {
    expect(() =>
      ensureInstalled({
        isRoot: false,
        requirements: [absent("postgres", "postgresql"), found("redis-server", "/r"), absent("haproxy", "haproxy"), absent("nginx", "nginx", true)],
      }),
    ).toThrow("missing postgres, haproxy; install with:\nsudo apt-get install -y postgresql haproxy");
  });
});

describe("installCommand", () => {
  it("drops sudo for root", () => {
    expect(installCommand(["pgbouncer"], true)).toBe("apt-get install -y pgbouncer");
    expect(installCommand(["pgbouncer", "redis-server"], false)).toBe("sudo apt-get install -y pgbouncer redis-server");
  });
});
