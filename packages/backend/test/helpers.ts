import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { createRng } from '@bag-of-tricks/core';
import { sizeOf } from '@bag-of-tricks/test-utils';
import { initBackend } from '../src/index';

export type Backend = 'cpu' | 'wasm';

/** Starts wasm with our kernels (as users get it) and leaves cpu available as the reference. */
export async function setupBackends(): Promise<void> {
  await initBackend('wasm', { log: () => {} });
}

/** Seeded standard-normal values. */
export function normals(size: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.normal();
  return out;
}

export const input = (shape: number[], seed: number) => ({ data: normals(sizeOf(shape), seed), shape });

export { dilateFilter, runOn, runOnExact, sizeOf, undilateFilter } from '@bag-of-tricks/test-utils';
