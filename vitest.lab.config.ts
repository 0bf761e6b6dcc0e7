import { defineConfig } from 'vitest/config';

/**
 * Lab end-to-end tests (`npx vitest run -c vitest.lab.config.ts`): they need root and boot real lab hosts, so they
 * run one file at a time with long timeouts. `HAKUBE_LAB_E2E=1` lets them run; under the default config they skip.
 */
export default defineConfig({
  test: {
    globalSetup: ['test/engine-setup.ts'],
    include: ['test/lab/**/*.e2e.test.ts'],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 900_000,
    teardownTimeout: 120_000,
    env: { HAKUBE_LAB_E2E: '1' },
    reporters: ['verbose'],
  },
});
