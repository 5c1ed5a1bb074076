import { describe, expect, it } from "vitest";
import { DEFAULT_CLI_PORTS, loadStackConfig, StackConfigError } from "../../../src/stack/config.js";

const ROOT = "/repo";

describe("loadStackConfig", () => {
  it("defaults to .stack/ in the repo, 3 replicas and the fixed CLI ports", () => {
    expect(loadStackConfig({}, ROOT)).toEqual({ dir: "/repo/.stack", replicas: 3, redis: "node", ports: { ...DEFAULT_CLI_PORTS, redisCluster: [], redisClusterBus: [] } });
  });

  it("runs a Redis Cluster of six nodes on STACK_REDIS=cluster, on fixed or given ports", () => {
    expect(loadStackConfig({ STACK_REDIS: "cluster" }, ROOT)).toMatchObject({ redis: "cluster", ports: { redisCluster: [56380, 56381, 56382, 56383, 56384, 56385], redisClusterBus: [56390, 56391, 56392, 56393, 56394, 56395] } });
    expect(loadStackConfig({ STACK_REDIS: "cluster", STACK_REDIS_CLUSTER_PORTS: "7000,7001,7002,7003,7004,7005" }, ROOT).ports.redisCluster).toEqual([7000, 7001, 7002, 7003, 7004, 7005]);
    expect(() => loadStackConfig({ STACK_REDIS: "sentinel" }, ROOT)).toThrow(/STACK_REDIS must be one of node, cluster; got "sentinel"/);
    expect(() => loadStackConfig({ STACK_REDIS: "cluster", STACK_REDIS_CLUSTER_PORTS: "7000,7001" }, ROOT)).toThrow(/STACK_REDIS_CLUSTER_PORTS must be 6 comma-separated port numbers, got "7000,7001"/);
    expect(() => loadStackConfig({ STACK_REDIS: "cluster", STACK_REDIS_CLUSTER_PORTS: "55432,7001,7002,7003,7004,7005" }, ROOT)).toThrow(/port 55432 is used by more than one component/);
  });

  it("takes STACK_DIR relative to the repo root or absolute", () => {
    expect(loadStackConfig({ STACK_DIR: "tmp/s" }, ROOT).dir).toBe("/repo/tmp/s");
    expect(loadStackConfig({ STACK_DIR: "/var/tmp/s" }, ROOT).dir).toBe("/var/tmp/s");
  });

  it("overrides every port from the environment", () => {
    const config = loadStackConfig(
      {
        STACK_REPLICAS: "2",
        STACK_PRIMARY_PORT: "6000",
        STACK_REPLICA_PORTS: "6001, 6002",
        STACK_PGBOUNCER_PORT: "6010",
        STACK_HAPROXY_PORT: "6020",
        STACK_HAPROXY_STATS_PORT: "6021",
        STACK_REDIS_PORT: "6030",
      },
      ROOT,
    );
    expect(config.replicas).toBe(2);
    expect(config.ports).toEqual({ primary: 6000, replicas: [6001, 6002], pgbouncer: 6010, haproxy: 6020, haproxyStats: 6021, redis: 6030, redisCluster: [], redisClusterBus: [] });
  });

  it("derives replica ports from the primary's default when only the count changes", () => {
    expect(loadStackConfig({ STACK_REPLICAS: "1" }, ROOT).ports.replicas).toEqual([55433]);
    expect(loadStackConfig({ STACK_REPLICAS: "0" }, ROOT).ports.replicas).toEqual([]);
  });

  it("names every bad variable in one error", () => {
    let error: unknown;
    try {
      loadStackConfig({ STACK_PRIMARY_PORT: "abc", STACK_REDIS_PORT: "70000", STACK_REPLICAS: "-1" }, ROOT);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StackConfigError);
    const { problems } = error as StackConfigError;
    expect(problems).toHaveLength(3);
    expect(problems.join("\n")).toMatch(/STACK_PRIMARY_PORT.*"abc"/);
    expect(problems.join("\n")).toMatch(/STACK_REDIS_PORT.*"70000"/);
    expect(problems.join("\n")).toMatch(/STACK_REPLICAS.*"-1"/);
  });

  it("rejects a replica port list that does not match the replica count", () => {
    expect(() => loadStackConfig({ STACK_REPLICA_PORTS: "6001,6002" }, ROOT)).toThrow(/STACK_REPLICA_PORTS: expected 3 ports/);
    expect(() => loadStackConfig({ STACK_REPLICAS: "1", STACK_REPLICA_PORTS: "6001,x" }, ROOT)).toThrow(/STACK_REPLICA_PORTS/);
  });

  it("rejects two components on one port", () => {
    expect(() => loadStackConfig({ STACK_REDIS_PORT: "55432" }, ROOT)).toThrow(/port 55432 is used by more than one component/);
  });

  it("ignores HAProxy's ports when there are no replicas", () => {
    expect(() => loadStackConfig({ STACK_REPLICAS: "0", STACK_HAPROXY_PORT: "55432" }, ROOT)).not.toThrow();
  });
});
