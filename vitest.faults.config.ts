import { defineConfig } from 'vitest/config';

/** `npm run test:faults`: the whole fault sequence on a local cluster (see docs/operations.md, "Local cluster"). */
export default defineConfig({
  test: {
    include: ['test/cluster/*.faults.ts'],
    testTimeout: 900_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
