// Backend set-up shared by the trainer worker and the replica workers: tfjs-backend-wasm's files come from
// Vite (as URLs), and each worker runs one single-threaded wasm instance (the replicas are the parallelism).
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { initBackend } from '@bag-of-tricks/backend';

export type PageBackend = 'wasm' | 'webgl' | 'webgpu' | 'cpu';

// The smallest module using a SIMD instruction (i8x16.splat; the probe of wasm-feature-detect).
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

/** True when this browser runs WebAssembly SIMD (our training kernels need it). */
export function hasWasmSimd(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

export class UnsupportedError extends Error {}

/** Points tfjs-backend-wasm at Vite's copies of its files; one thread per worker. */
export function configureWasm(): void {
  setWasmPaths({ 'tfjs-backend-wasm.wasm': wasmPlain, 'tfjs-backend-wasm-simd.wasm': wasmSimd, 'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedSimd });
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
}

/** Starts `backend` in this worker: wasm with our SIMD kernels (initBackend), or WebGL/WebGPU/cpu. Returns its name. */
export async function startBackend(backend: PageBackend, log: (m: string) => void): Promise<string> {
  if (backend === 'wasm') {
    if (!hasWasmSimd()) {
      throw new UnsupportedError(
        'This browser has no WebAssembly SIMD, which the wasm backend\'s training kernels need (Chrome 91+, Firefox 89+, Safari 16.4+). Pick the WebGL or cpu backend, or update the browser.',
      );
    }
    configureWasm();
    await initBackend('wasm', { log });
    return tf.getBackend();
  }
  if (backend === 'cpu') {
    await initBackend('cpu', { log });
    return tf.getBackend();
  }
  // GPU backends: our gradient registrations first (initBackend does this for wasm/cpu), then tfjs's backend.
  await initBackend('cpu', { log: () => {} });
  if (backend === 'webgl') await import('@tensorflow/tfjs-backend-webgl');
  else await import('@tensorflow/tfjs-backend-webgpu');
  let ok = false;
  try {
    ok = await tf.setBackend(backend);
  } catch {
    ok = false;
  }
  if (!ok) throw new UnsupportedError(`The ${backend === 'webgl' ? 'WebGL' : 'WebGPU'} backend could not start in this browser (no ${backend === 'webgl' ? 'WebGL 2 context in a worker' : 'navigator.gpu adapter'}); pick wasm.`);
  log(`[page] backend: ${backend} (tfjs-backend-${backend})`);
  return tf.getBackend();
}
