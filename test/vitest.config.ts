import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**', 'fixtures/**'],
    // End-to-end tests start real processes; building a Go program or a backend the first
    // time takes minutes, after that it comes from the cache (see test/setup/README.md).
    testTimeout: 120_000,
    hookTimeout: 20 * 60_000,
    pool: 'forks',
  },
});
