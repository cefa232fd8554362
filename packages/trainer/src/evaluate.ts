import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { Batch } from '@bag-of-tricks/core';

export interface EvalResult {
  readonly top1: number;
  readonly top5: number;
  /** Mean cross-entropy against the (one-hot) labels. */
  readonly loss: number;
  readonly samples: number;
}

/** Counts [top-1 hits, top-k hits, summed CE] of one batch; inference mode. */
export function scoreBatch(model: LayersModel, batch: Batch, k = 5): [number, number, number] {
  return tf.tidy(() => {
    const logits = model.apply(batch.images, { training: false }) as tf.Tensor2D;
    const numClasses = logits.shape[1];
    const truth = tf.argMax(batch.labels, 1);
    const kk = Math.min(k, numClasses);
    const { indices } = tf.topk(logits, kk);
    const hitsK = tf.sum(tf.cast(tf.equal(indices, tf.expandDims(truth, 1)), 'float32'));
    const hits1 = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), truth), 'float32'));
    const ce = tf.neg(tf.sum(tf.mul(batch.labels, tf.logSoftmax(logits))));
    const out = tf.stack([hits1, hitsK, ce]).dataSync();
    return [out[0] as number, out[1] as number, out[2] as number];
  });
}

/** Top-1/top-5 accuracy over batches that already went through the eval pipeline; disposes each batch. */
export async function evaluate(model: LayersModel, batches: AsyncIterable<Batch>): Promise<EvalResult> {
  let hits1 = 0;
  let hits5 = 0;
  let ce = 0;
  let n = 0;
  for await (const batch of batches) {
    try {
      const [a, b, c] = scoreBatch(model, batch);
      hits1 += a;
      hits5 += b;
      ce += c;
      n += batch.images.shape[0];
    } finally {
      tf.dispose([batch.images, batch.labels]);
    }
  }
  return n === 0 ? { top1: 0, top5: 0, loss: Number.NaN, samples: 0 } : { top1: hits1 / n, top5: hits5 / n, loss: ce / n, samples: n };
}
