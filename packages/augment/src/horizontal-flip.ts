import type { Batch, BatchTransform } from '@bag-of-tricks/core';
import * as tf from '@tensorflow/tfjs-core';
import { checkBatch, tidyBatch } from './checks';

export interface HorizontalFlipOptions {
  /** Probability of flipping each image (default 0.5). */
  p?: number;
}

/** Mirrors each image left-right with probability `p`, one draw per image. Exact (a reversal). */
export function horizontalFlip({ p = 0.5 }: HorizontalFlipOptions = {}): BatchTransform {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`horizontalFlip: p must be in [0, 1], got ${p}.`);
  return (batch: Batch, rng) =>
    tidyBatch(() => {
      checkBatch(batch, 'horizontalFlip');
      const n = batch.images.shape[0];
      const flags = Array.from({ length: n }, () => rng.bernoulli(p));
      const labels = tf.clone(batch.labels);
      if (!flags.includes(true)) return { images: tf.clone(batch.images), labels };
      const flipped = tf.reverse(batch.images, 2);
      if (!flags.includes(false)) return { images: flipped, labels };
      const mask = tf.tensor4d(flags.map(Number), [n, 1, 1, 1], 'bool');
      return { images: tf.where(mask, flipped, batch.images) as tf.Tensor4D, labels };
    });
}
