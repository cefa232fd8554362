import * as tf from '@tensorflow/tfjs-core';
import { assertSameShape, type Loss } from '@bag-of-tricks/core';
import { checkLogits, firstNonDistributionRow, formatRow } from './checks';

/**
 * `-mean_n sum_k q[n, k] * log_softmax(z)[n, k]` through tfjs's log-softmax (max-shifted, so logits
 * of +-1e4 give finite values and gradients). Its gradient with respect to z is (softmax(z) - q) / N.
 */
export function crossEntropyWithLogits(q: tf.Tensor2D, logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(q, tf.logSoftmax(logits, -1)), -1))) as tf.Scalar);
}

export interface SoftTargetCrossEntropyOptions {
  /**
   * Check (with a synchronous read of yTrue) that every target row is a probability distribution:
   * entries >= 0 summing to 1 within 1e-4. Default true; turn off only for speed on GPU backends.
   */
  checkTargets?: boolean;
}

/**
 * Cross-entropy against soft targets, the core loss: `(yTrue [N, K] probabilities, yPred [N, K] logits) => Scalar`,
 * the mean over the batch of `-sum_k q_k log_softmax(z)_k`. Use it for mixup / CutMix targets, for labels
 * smoothed with `smoothLabels`, or any one-hot table. It never smooths anything itself.
 */
export function softTargetCrossEntropy({ checkTargets = true }: SoftTargetCrossEntropyOptions = {}): Loss {
  return (yTrue, yPred) => {
    const where = 'softTargetCrossEntropy';
    const [n, k] = checkLogits(yPred, where);
    if (yTrue.rank === 1) {
      throw new TypeError(
        `${where}: yTrue has shape [${yTrue.shape.join(', ')}], class indices; it needs [N, K] probabilities. ` +
          'Use labelSmoothingCrossEntropy (epsilon 0 for plain cross-entropy), or tf.oneHot(labels, K).',
      );
    }
    assertSameShape(yTrue, yPred, `${where}: yTrue`, 'yPred');
    if (checkTargets) {
      const values = yTrue.dataSync();
      const bad = firstNonDistributionRow(values, n, k);
      if (bad) {
        throw new RangeError(
          `${where}: yTrue row ${bad.row} = ${formatRow(values, bad.row, k)} is not a probability distribution ` +
            `(sum ${bad.sum.toPrecision(6)}, min ${bad.min}); soft targets must be >= 0 and sum to 1.`,
        );
      }
    }
    return tf.tidy(() => crossEntropyWithLogits(tf.cast(yTrue, 'float32') as tf.Tensor2D, yPred as tf.Tensor2D));
  };
}
