import { assertRank, type Batch } from '@bag-of-tricks/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Throws a clear error unless `batch.images` is a float32 NHWC tensor (with `channels` channels
 * when given) and `batch.labels` is [N, K] with the same N.
 */
export function checkBatch(batch: Batch, where: string, channels?: number | readonly number[]): void {
  const { images, labels } = batch ?? ({} as Batch);
  if (!(images instanceof tf.Tensor) || !(labels instanceof tf.Tensor)) {
    throw new TypeError(`${where}: expected a batch { images: Tensor4D, labels: Tensor2D }.`);
  }
  assertRank(images, 4, `${where}: images`, 'NHWC');
  assertRank(labels, 2, `${where}: labels`, '[N, K] one-hot or soft');
  if (images.dtype !== 'float32') {
    throw new TypeError(
      `${where}: images must be float32 pixels (0-255 before normalize), got dtype ${images.dtype}; convert with tf.cast(images, 'float32').`,
    );
  }
  if (labels.dtype !== 'float32') {
    throw new TypeError(`${where}: labels must be float32 one-hot or soft targets, got dtype ${labels.dtype}; use tf.oneHot(...).toFloat().`);
  }
  if (images.shape[0] !== labels.shape[0]) {
    throw new Error(`${where}: ${images.shape[0]} images but ${labels.shape[0]} label rows; they must match.`);
  }
  if (channels !== undefined) {
    const allowed = typeof channels === 'number' ? [channels] : channels;
    const c = images.shape[3];
    if (!allowed.includes(c)) {
      throw new Error(
        `${where}: expected ${allowed.join(' or ')} channel(s) (NHWC), got ${c} with shape [${images.shape.join(', ')}]` +
          (allowed.includes(3) && c === 1 ? '. This is an RGB-only transform; for greyscale images leave it out (trainPipeline({ channels: 1 }) does).' : '.'),
      );
    }
  }
}

/** Runs `fn` inside `tf.tidy` and returns a batch whose tensors the caller owns. */
export function tidyBatch(fn: () => Batch): Batch {
  return tf.tidy(() => {
    const out = fn();
    return { images: out.images, labels: out.labels };
  });
}

/** A range given as `c` (meaning [1 - c, 1 + c]) or as [low, high]. */
export type FactorRange = number | readonly [number, number];

export function factorRange(value: FactorRange, name: string, where: string): [number, number] {
  const [lo, hi] = typeof value === 'number' ? [1 - value, 1 + value] : value;
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo < 0 || lo > hi) {
    throw new RangeError(`${where}: ${name} must be c in [0, 1] (factors in [1 - c, 1 + c]) or [low, high] with 0 <= low <= high, got ${JSON.stringify(value)}.`);
  }
  return [lo, hi];
}
