import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

export interface CloseOptions {
  /** Relative tolerance (default 1e-5). */
  rtol?: number;
  /** Absolute tolerance (default 1e-6). */
  atol?: number;
}

/** Asserts |actual - expected| <= atol + rtol * |expected| elementwise, and equal shapes. */
export function expectTensorsClose(
  actual: tf.Tensor | ArrayLike<number> | number,
  expected: tf.Tensor | ArrayLike<number> | number,
  { rtol = 1e-5, atol = 1e-6 }: CloseOptions = {},
): void {
  const toArr = (x: tf.Tensor | ArrayLike<number> | number): { shape: number[] | null; data: number[] } =>
    x instanceof tf.Tensor
      ? { shape: x.shape, data: Array.from(x.dataSync()) }
      : typeof x === 'number'
        ? { shape: null, data: [x] }
        : { shape: null, data: Array.from(x) };
  const a = toArr(actual);
  const e = toArr(expected);
  if (a.shape && e.shape) expect(a.shape, 'shapes differ').toEqual(e.shape);
  expect(a.data.length, 'sizes differ').toBe(e.data.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < a.data.length; i++) {
    const av = a.data[i]!;
    const ev = e.data[i]!;
    const excess = Math.abs(av - ev) - (atol + rtol * Math.abs(ev));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `tensors differ at index ${worst}: actual ${a.data[worst]} vs expected ${e.data[worst]} (rtol ${rtol}, atol ${atol})`,
    );
  }
}

/**
 * Runs `fn` once to warm caches, then `steps` more times, and asserts `tf.memory().numTensors`
 * did not grow. `fn` may return tensors; they are disposed after each call.
 */
export async function expectNoLeak(fn: () => unknown, steps = 10): Promise<void> {
  const run = async () => {
    const out = await fn();
    tf.dispose(out as tf.TensorContainer);
  };
  await run();
  const before = tf.memory().numTensors;
  for (let i = 0; i < steps; i++) await run();
  const after = tf.memory().numTensors;
  expect(after - before, `leaked ${after - before} tensors over ${steps} steps`).toBe(0);
}
export { dilateFilter, runOn, runOnExact, sizeOf, undilateFilter } from './kernels';
