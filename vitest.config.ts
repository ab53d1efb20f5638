import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // integration suites start their own sshd instances; keep parallelism modest on 2 cores
    maxWorkers: 2,
    minWorkers: 1,
  },
});
