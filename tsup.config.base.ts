import { defineConfig, type Options } from 'tsup';

/** One bundler config for every package: ESM + .d.ts, tfjs and siblings left external. */
export function packageConfig(overrides: Options = {}): ReturnType<typeof defineConfig> {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'es2022',
    splitting: false,
    external: [/^@tensorflow\//, /^@bag-of-tricks\//, 'sharp'],
    ...overrides,
  });
}
