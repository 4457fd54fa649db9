import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Lab tests share the kernel's network stack; running files in parallel
    // would make faults in one test visible to another.
    fileParallelism: false,
    pool: "forks",
    // A temporary folder per run, removed at its end (test/global-tmp.ts).
    globalSetup: ["test/global-tmp.ts"],
  },
});
