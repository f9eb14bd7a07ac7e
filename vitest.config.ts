import { defineConfig } from 'vitest/config';

// Test tiers (README "Development"); every test file lands in exactly one, by where it is and how
// it is named (tests/static/test-tiers.test.ts checks both):
//   unit         *.unit.test.ts: no processes, no network, no servers (npm run test:unit)
//   component    the other gateway/ and cli/ tests (real MinIO, fake inference) and tests/static
//   integration  tests/e2e and scripts/ (the whole stack: MinIO, MLflow, BentoML, gateway)
const UNIT = ['**/*.unit.test.ts'];
const COMPONENT = ['{gateway,cli}/**/*.test.ts', 'tests/static/**/*.test.ts'];
const INTEGRATION = ['scripts/**/*.test.ts', 'tests/e2e/**/*.test.ts'];
const EXCLUDE = ['**/node_modules/**', '**/dist/**'];

export default defineConfig({
  test: {
    exclude: EXCLUDE,
    // Integration tests start real servers; on 2 cores that takes seconds, not milliseconds.
    testTimeout: 120_000,
    hookTimeout: 600_000,
    pool: 'forks',
    fileParallelism: false,
    projects: [
      // Unit tests share no state: one module graph for all of them (isolate: false) in threads
      // takes about 2 s instead of 15 s of a fresh process per file.
      { extends: true, test: { name: 'unit', include: UNIT, pool: 'threads', isolate: false } },
      { extends: true, test: { name: 'component', include: COMPONENT, exclude: [...EXCLUDE, ...UNIT] } },
      { extends: true, test: { name: 'integration', include: INTEGRATION, exclude: [...EXCLUDE, ...UNIT] } },
    ],
  },
});
