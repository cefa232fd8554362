import type { Tensor } from '@tensorflow/tfjs-core';

/** Throws a clear error unless `t` has the expected rank. */
export function assertRank(t: Tensor, rank: number, name: string, layout?: string): void {
  if (t.rank !== rank) {
    throw new Error(
      `${name}: expected a rank-${rank} tensor${layout ? ` (${layout})` : ''}, got rank ${t.rank} with shape [${t.shape.join(', ')}].` +
        (rank === 4 && t.rank === 3 ? ' Add a batch dimension with tf.expandDims(x, 0).' : ''),
    );
  }
}

/** Throws unless `a` and `b` have the same shape. */
export function assertSameShape(a: Tensor, b: Tensor, nameA: string, nameB: string): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${nameA} has shape [${a.shape.join(', ')}] but ${nameB} has shape [${b.shape.join(', ')}]; they must match.`);
  }
}

/** Throws unless every integer label lies in [0, numClasses). */
export function assertLabelsInRange(labels: ArrayLike<number>, numClasses: number, name = 'labels'): void {
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i] as number;
    if (!Number.isInteger(v) || v < 0 || v >= numClasses) {
      throw new RangeError(
        `${name}[${i}] = ${v} is out of range: class indices must be integers in [0, ${numClasses - 1}] for ${numClasses} classes.`,
      );
    }
  }
}
