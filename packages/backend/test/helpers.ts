import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { createRng } from '@bag-of-tricks/core';
import { sizeOf } from '@bag-of-tricks/test-utils';
import { initBackend } from '../src/index';
import { stockKernels } from '../src/kernels/kernel-utils';

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

/**
 * Runs `fn` counting the calls our wasm kernels make to the named kernels through `runWasm` (the stock
 * kernels they fall back to or build on, e.g. 'Add' or 'AvgPool'): each is wrapped for the duration and
 * put back afterwards. This is how a test sees which kernel ran, not only what it returned.
 */
export async function countStockCalls<T>(names: string[], fn: () => Promise<T>): Promise<{ result: T; calls: Record<string, number> }> {
  const calls: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  const saved = new Map<string, tf.KernelConfig | undefined>();
  for (const name of names) {
    const had = stockKernels.get(name);
    const config = had ?? tf.getKernel(name, 'wasm');
    if (!config) throw new Error(`countStockCalls: no wasm kernel '${name}'`);
    saved.set(name, had);
    stockKernels.set(name, { ...config, kernelFunc: (args) => (calls[name]!++, config.kernelFunc(args)) });
  }
  try {
    return { result: await fn(), calls };
  } finally {
    for (const [name, had] of saved) {
      if (had) stockKernels.set(name, had);
      else stockKernels.delete(name);
    }
  }
}
