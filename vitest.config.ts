import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{gateway,cli,scripts}/**/*.test.ts', 'tests/e2e/**/*.test.ts', 'tests/static/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    // Integration tests start real servers; on 2 cores that takes seconds, not milliseconds.
    testTimeout: 120_000,
    hookTimeout: 600_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
