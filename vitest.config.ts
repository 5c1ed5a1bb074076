import { configDefaults, defineConfig } from "vitest/config";

// The operations checks (kustomize + kubeconform, promtool, the pgBackRest restore drill) are
// CPU-heavy and not timing-bound: they run after the other projects, so the latency and
// failure tests never share the two cores with them. The bench smoke run saturates both cores.
const OPS_FILES = [
  "test/unit/deploy/k8s.test.ts",
  "test/unit/deploy/prometheus.test.ts",
  "test/integration/stack/restore-drill.test.ts",
  "test/integration/bench/quick.test.ts",
];

export default defineConfig({
  test: {
    // Integration files each start real processes; two cores make more workers slower, not faster.
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          exclude: [...configDefaults.exclude, ...OPS_FILES],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          exclude: [...configDefaults.exclude, ...OPS_FILES],
          // One shared topology (Postgres primary + replicas, PgBouncer, HAProxy, Redis) for the run.
          globalSetup: ["test/support/data-tier.ts"],
          testTimeout: 60_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: "ops",
          include: OPS_FILES,
          sequence: { groupOrder: 1 },
          testTimeout: 60_000,
          // First run on a machine: the tools are installed from the registries.
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
