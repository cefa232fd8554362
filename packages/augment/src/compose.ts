import type { Batch, BatchTransform } from '@bag-of-tricks/core';
import * as tf from '@tensorflow/tfjs-core';
import { tidyBatch } from './checks';

/** Applies `transforms` left to right, sharing one rng; intermediate tensors are freed. */
export function compose(...transforms: BatchTransform[]): BatchTransform {
  transforms.forEach((t, i) => {
    if (typeof t !== 'function') throw new TypeError(`compose: argument ${i} is not a transform (got ${typeof t}).`);
  });
  return (batch: Batch, rng) =>
    tidyBatch(() =>
      transforms.length === 0
        ? { images: tf.clone(batch.images), labels: tf.clone(batch.labels) }
        : transforms.reduce((b, t) => t(b, rng), batch),
    );
}
