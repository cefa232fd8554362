import * as tf from '@tensorflow/tfjs-core';

/** Number of elements of a shape. */
export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

type Arrays = Record<string, { data: Float32Array | Int32Array; shape: number[]; dtype?: 'float32' | 'int32' }>;

/**
 * Runs `fn` with `backend` current, on tensors made there from `arrays`, and returns plain data: the
 * way kernel tests compare one backend against another (cpu is the reference). Frees what it made.
 * The output must be float32: an int32 result would be rounded to float32 here (2^24 + 1 becomes
 * 2^24), so it is refused; use {@link runOnExact} for those.
 */
export async function runOn(backend: string, arrays: Arrays, fn: (t: Record<string, tf.Tensor>) => tf.Tensor): Promise<{ shape: number[]; data: Float32Array }> {
  const { shape, dtype, data } = await runOnExact(backend, arrays, fn);
  if (dtype !== 'float32') {
    throw new Error(`runOn: the result is ${dtype}, which Float32Array would round; use runOnExact to compare it exactly.`);
  }
  return { shape, data: data as Float32Array };
}

/** {@link runOn} keeping the result's own dtype and typed array (Int32Array for int32), for exact comparisons. */
export async function runOnExact(
  backend: string,
  arrays: Arrays,
  fn: (t: Record<string, tf.Tensor>) => tf.Tensor,
): Promise<{ shape: number[]; dtype: tf.DataType; data: Float32Array | Int32Array | Uint8Array }> {
  await tf.setBackend(backend);
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, a] of Object.entries(arrays)) tensors[name] = tf.tensor(a.data, a.shape, a.dtype ?? 'float32');
  const out = fn(tensors);
  const data = out.dataSync();
  const result = { shape: out.shape.slice(), dtype: out.dtype, data: data.slice() as Float32Array | Int32Array | Uint8Array };
  tf.dispose([out, ...Object.values(tensors)]);
  return result;
}

/**
 * A [fh,fw,C,O] filter with dilation d written out as a dense [(fh-1)d+1, (fw-1)d+1, C, O] filter of
 * zeros and taps: a dilated conv equals an undilated conv with it (an independent reference for dilation).
 */
export function dilateFilter(data: Float32Array, shape: readonly number[], d: number): { data: Float32Array; shape: number[] } {
  const [fh, fw, c, o] = shape as [number, number, number, number];
  const eh = (fh - 1) * d + 1;
  const ew = (fw - 1) * d + 1;
  const out = new Float32Array(eh * ew * c * o);
  for (let i = 0; i < fh; i++)
    for (let j = 0; j < fw; j++)
      for (let k = 0; k < c * o; k++) out[(i * d * ew + j * d) * c * o + k] = data[(i * fw + j) * c * o + k]!;
  return { data: out, shape: [eh, ew, c, o] };
}

/** Takes every d-th tap of a dense dilated-filter gradient back to [fh,fw,C,O] (the inverse of {@link dilateFilter}). */
export function undilateFilter(data: Float32Array, shape: readonly number[], d: number): Float32Array {
  const [fh, fw, c, o] = shape as [number, number, number, number];
  const ew = (fw - 1) * d + 1;
  const out = new Float32Array(fh * fw * c * o);
  for (let i = 0; i < fh; i++)
    for (let j = 0; j < fw; j++)
      for (let k = 0; k < c * o; k++) out[(i * fw + j) * c * o + k] = data[(i * d * ew + j * d) * c * o + k]!;
  return out;
}
