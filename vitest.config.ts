import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Integration files each start real processes; two cores make more workers slower, not faster.
    maxWorkers: 2,
    reporters: ["default"],
  },
});
