import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'services/*/test/**/*.test.ts',
      'gateway/test/**/*.test.ts',
      'lib/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: more workers only add contention on the shared Postgres and NATS.
    maxWorkers: 2,
  },
});
