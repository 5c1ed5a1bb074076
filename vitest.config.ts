import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Integration files each start real processes; two cores make more workers slower, not faster.
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          // One shared topology (Postgres primary + replicas, PgBouncer, HAProxy, Redis) for the run.
          globalSetup: ["test/support/data-tier.ts"],
          testTimeout: 60_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
