import { defineConfig } from 'vitest/config';

/** Unit, snapshot and artifact-validation tests (`npm test`). Lab end-to-end tests have their own config. */
export default defineConfig({
  test: {
    globalSetup: ['test/engine-setup.ts'],
    include: ['test/**/*.test.ts'],
    exclude: ['test/lab/**', 'node_modules/**'],
    testTimeout: 30_000,
  },
});
