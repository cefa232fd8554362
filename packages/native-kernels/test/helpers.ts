import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { registerWasmTrainingKernels } from '@bag-of-tricks/backend';
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

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
export const input = (shape: number[], seed: number) => ({ data: values(sizeOf(shape), seed), shape });

/** Runs `fn` on `backend` over tensors made there from `arrays`; returns plain data. */
export async function runOn(
  backend: 'cpu' | 'wasm',
  arrays: Record<string, { data: Float32Array | Int32Array; shape: number[]; dtype?: 'float32' | 'int32' }>,
  fn: (t: Record<string, tf.Tensor>) => tf.Tensor,
): Promise<{ shape: number[]; data: Float32Array }> {
  await tf.setBackend(backend);
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, a] of Object.entries(arrays)) tensors[name] = tf.tensor(a.data, a.shape, a.dtype ?? 'float32');
  const out = fn(tensors);
  const result = { shape: out.shape.slice(), data: Float32Array.from(out.dataSync()) };
  tf.dispose([out, ...Object.values(tensors)]);
  return result;
}

/** Inserts d-1 zeros between filter taps: a dilated conv is an undilated conv with this filter. */
export function dilateFilter(f: Float32Array, shape: number[], d: number): { data: Float32Array; shape: number[] } {
  const [kh, kw, ci, co] = shape as [number, number, number, number];
  const eh = (kh - 1) * d + 1;
  const ew = (kw - 1) * d + 1;
  const out = new Float32Array(eh * ew * ci * co);
  for (let a = 0; a < kh; a++)
    for (let b = 0; b < kw; b++)
      for (let c = 0; c < ci * co; c++) out[((a * d * ew + b * d) * ci * co) + c] = f[(a * kw + b) * ci * co + c]!;
  return { data: out, shape: [eh, ew, ci, co] };
}

/** The taps of a dilated filter's gradient, taken out of the undilated (zero-inserted) one. */
export function undilateFilter(g: Float32Array, shape: number[], d: number): Float32Array {
  const [kh, kw, ci, co] = shape as [number, number, number, number];
  const ew = (kw - 1) * d + 1;
  const out = new Float32Array(kh * kw * ci * co);
  for (let a = 0; a < kh; a++)
    for (let b = 0; b < kw; b++)
      for (let c = 0; c < ci * co; c++) out[(a * kw + b) * ci * co + c] = g[(a * d * ew + b * d) * ci * co + c]!;
  return out;
}
