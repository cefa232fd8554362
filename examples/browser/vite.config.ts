import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// Cross-origin isolation: SharedArrayBuffer (the data-parallel replicas' shared weights and gradients) exists
// only on pages served with these two headers. Dev server and preview both send them; a static host must too.
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  server: { headers: ISOLATION_HEADERS, fs: { allow: ['../..'] } },
  preview: { headers: ISOLATION_HEADERS },
  // Workers start workers (the trainer worker starts the replicas): ES module workers, bundled like the page.
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 8192,
    assetsInlineLimit: 0,
    // The page, and the training-step bench page that `npm run bench` drives (scripts/bench/browser-step.mjs).
    rollupOptions: {
      input: {
        main: fileURLToPath(new URL('./index.html', import.meta.url)),
        bench: fileURLToPath(new URL('./bench.html', import.meta.url)),
      },
    },
  },
  // tfjs-backend-wasm locates its .wasm files itself; we hand it Vite's URLs (src/backend.ts).
  optimizeDeps: { exclude: ['@tensorflow/tfjs-backend-wasm'] },
});
