import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { wasmModuleSource } from './packages/backend/scripts/wasm-module-source.mjs';

const root = fileURLToPath(new URL('.', import.meta.url));
const pkgs = ['core', 'data', 'augment', 'schedules', 'losses', 'resnet-variants', 'distill', 'trainer', 'backend', 'test-utils'];

/** Tests import sibling packages from source, so a change is tested without a rebuild. */
export const sharedConfig = defineConfig({
  // A `.wasm` import is its bytes, as backend's build embeds them (scripts/wasm-module-source.mjs).
  plugins: [{ name: 'wasm-bytes', enforce: 'pre', load: (id: string) => (id.endsWith('.wasm') ? wasmModuleSource(id) : null) }],
  resolve: {
    // Exact matches: a package's root and its Node-free `/core` subpath (data, trainer) each map to their own source file.
    alias: [
      ...['data', 'trainer'].map((p) => ({ find: new RegExp(`^@bag-of-tricks/${p}/core$`), replacement: `${root}packages/${p}/src/core.ts` })),
      ...pkgs.map((p) => ({ find: new RegExp(`^@bag-of-tricks/${p}$`), replacement: `${root}packages/${p}/src/index.ts` })),
    ],
  },
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    setupFiles: [`${root}vitest.setup.ts`],
  },
});
