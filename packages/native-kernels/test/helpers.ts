import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { registerWasmTrainingKernels } from '@bag-of-tricks/backend';
import { sizeOf } from '@bag-of-tricks/test-utils';
import { expect } from 'vitest';
import { nativeKernelsAvailable, nativeLoadError, registerNativeKernels } from '../src/index';

/** wasm with the repo's training kernels beneath ours (as initBackend sets it up), cpu as the reference. */
export async function setupBackends(): Promise<void> {
  expect(nativeKernelsAvailable(), `native addon unavailable: ${nativeLoadError()}`).toBe(true);
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  registerNativeKernels();
}

/** Seeded values in [-1, 1) (a small LCG, independent of any backend). */
export function values(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

export { dilateFilter, runOn, sizeOf, undilateFilter } from '@bag-of-tricks/test-utils';
export const input = (shape: number[], seed: number) => ({ data: values(sizeOf(shape), seed), shape });
