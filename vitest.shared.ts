import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));
const pkgs = ['core', 'data', 'augment', 'schedules', 'losses', 'resnet-variants', 'distill', 'trainer', 'backend', 'test-utils'];

/** Tests import sibling packages from source, so a change is tested without a rebuild. */
export const sharedConfig = defineConfig({
  resolve: {
    alias: Object.fromEntries(pkgs.map((p) => [`@bag-of-tricks/${p}`, `${root}packages/${p}/src/index.ts`])),
  },
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    setupFiles: [`${root}vitest.setup.ts`],
  },
});
