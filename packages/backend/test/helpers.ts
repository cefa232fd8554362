import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { createRng } from '@bag-of-tricks/core';
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

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Runs `fn` with the given backend current, on tensors made there from `arrays`, and returns plain data. */
export async function runOn(
  backend: Backend,
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

export const input = (shape: number[], seed: number) => ({ data: normals(sizeOf(shape), seed), shape });

/** [fh,fw,C,O] filter with dilation d written out as a dense [(fh-1)d+1, (fw-1)d+1, C, O] filter of zeros and taps. */
export function dilateFilter(data: Float32Array, shape: number[], d: number): { data: Float32Array; shape: number[] } {
  const [fh, fw, c, o] = shape as [number, number, number, number];
  const eh = (fh - 1) * d + 1;
  const ew = (fw - 1) * d + 1;
  const out = new Float32Array(eh * ew * c * o);
  for (let i = 0; i < fh; i++)
    for (let j = 0; j < fw; j++)
      for (let k = 0; k < c * o; k++) out[((i * d) * ew + j * d) * c * o + k] = data[(i * fw + j) * c * o + k]!;
  return { data: out, shape: [eh, ew, c, o] };
}

/** Takes every d-th tap of a dense dilated-filter gradient back to [fh,fw,C,O]. */
export function undilateFilter(data: Float32Array, shape: number[], d: number): Float32Array {
  const [fh, fw, c, o] = shape as [number, number, number, number];
  const ew = (fw - 1) * d + 1;
  const out = new Float32Array(fh * fw * c * o);
  for (let i = 0; i < fh; i++)
    for (let j = 0; j < fw; j++)
      for (let k = 0; k < c * o; k++) out[(i * fw + j) * c * o + k] = data[((i * d) * ew + j * d) * c * o + k]!;
  return out;
}
