import type { Tensor } from '@tensorflow/tfjs-core';
import { assertRank } from '@bag-of-tricks/core';

/** Throws unless the logits are a float32 [N, K] tensor with K >= 1; returns [N, K]. */
export function checkLogits(yPred: Tensor, where: string): [number, number] {
  assertRank(yPred, 2, `${where}: yPred (logits)`, '[batch, classes]');
  if (yPred.dtype !== 'float32') throw new TypeError(`${where}: yPred must be float32 logits, got dtype ${yPred.dtype}.`);
  const [n, k] = yPred.shape as [number, number];
  if (k < 1) throw new RangeError(`${where}: yPred has no classes (shape [${yPred.shape.join(', ')}]).`);
  return [n, k];
}

/** The first row of an [N, K] table that is not a probability distribution (entries >= 0, sum 1), or null. */
export function firstNonDistributionRow(values: ArrayLike<number>, n: number, k: number, tolerance = 1e-4): { row: number; sum: number; min: number } | null {
  for (let i = 0; i < n; i++) {
    let sum = 0;
    let min = Number.POSITIVE_INFINITY;
    for (let j = 0; j < k; j++) {
      const v = values[i * k + j] as number;
      sum += v;
      if (!(v >= min)) min = v;
    }
    if (!(min >= 0) || !(Math.abs(sum - 1) <= tolerance)) return { row: i, sum, min };
  }
  return null;
}

/** The first row of an [N, K] table that is not exactly one-hot, or -1. */
export function firstNonOneHotRow(values: ArrayLike<number>, n: number, k: number): number {
  for (let i = 0; i < n; i++) {
    let ones = 0;
    for (let j = 0; j < k; j++) {
      const v = values[i * k + j] as number;
      if (v === 1) ones++;
      else if (v !== 0) return i;
    }
    if (ones !== 1) return i;
  }
  return -1;
}

export const formatRow = (values: ArrayLike<number>, row: number, k: number): string =>
  `[${Array.from({ length: Math.min(k, 8) }, (_, j) => Number((values[row * k + j] as number).toPrecision(4))).join(', ')}${k > 8 ? ', ...' : ''}]`;
