import { packageConfig } from '../../tsup.config.base';
import { wasmModuleSource } from './scripts/wasm-module-source.mjs';

// src/kernels/bot-simd.wasm is embedded in dist as base64 at build time (the committed .wasm is the only copy).
export default packageConfig({
  esbuildPlugins: [
    {
      name: 'wasm-bytes',
      setup(build) {
        build.onLoad({ filter: /\.wasm$/ }, (args) => ({ contents: wasmModuleSource(args.path), loader: 'js' }));
      },
    },
  ],
});
