import * as tf from '@tensorflow/tfjs-core';

/**
 * The fused training BatchNorm: one kernel for the forward pass and one for the backward pass, in place of the
 * ~40 kernels (moments, batchNorm and their gradients) tfjs-layers runs per BatchNorm layer and step. This file is
 * the contract between the layer that calls it (resnet-variants' BatchNorm) and the backends that implement it
 * (native-kernels registers both kernels on 'wasm' in Node). Where no backend registered them the layer keeps
 * tfjs-layers' own op sequence, so nothing changes there.
 *
 * Channels last: x is viewed as [m, C] with C its last axis and m = x.size / C.
 *
 * `BATCH_NORM_TRAINING.forward`: inputs { x, gamma [C], beta [C] }, attrs { epsilon }; outputs, in this order:
 *   y = (x - mean) * invStd * gamma + beta (x's shape), mean [C], variance [C] (biased: divided by m, as
 *   tfjs-layers' moments), invStd [C] = 1 / sqrt(variance + epsilon).
 *   With inputs movingMean [C] and movingVariance [C] and attr momentum as well, two more outputs: the moving
 *   averages tfjs-layers' BatchNormalization keeps, bitwise its float32 ops: moving - (moving - batch) * decay,
 *   decay = float32(1 - momentum), for the mean and for the (biased) variance.
 * `BATCH_NORM_TRAINING.backward`: inputs { dy, x, mean, invStd, gamma }; outputs [dx, dgamma, dbeta] with
 *   dbeta = sum(dy), dgamma = sum(dy * xhat), xhat = (x - mean) * invStd, and
 *   dx = gamma * invStd * (dy - dbeta / m - xhat * dgamma / m): the full gradient, through the batch statistics.
 * Per-channel sums may be taken in any order and precision at least float32's; results must not depend on the
 * thread count.
 */
export const BATCH_NORM_TRAINING = { forward: 'BotBatchNormTraining', backward: 'BotBatchNormTrainingGrad' } as const;

/** Whether the active backend (or `backendName`) has both fused BatchNorm kernels. */
export function hasFusedBatchNormTraining(backendName: string = tf.getBackend()): boolean {
  return tf.getKernel(BATCH_NORM_TRAINING.forward, backendName) != null && tf.getKernel(BATCH_NORM_TRAINING.backward, backendName) != null;
}

/**
 * The forward kernel's gradient: the backward kernel, for x, gamma and beta from y's gradient. The gradients
 * arriving at mean, variance and invStd are not used (the layer only reads them for its moving averages), which
 * is why `fusedBatchNormTraining` documents them as carrying no gradient. Registered on first use (gradients
 * are global to tfjs-core, like kernels).
 */
function ensureGradient(): void {
  if (tf.getGradient(BATCH_NORM_TRAINING.forward)) return;
  tf.registerGradient({
    kernelName: BATCH_NORM_TRAINING.forward,
    inputsToSave: ['x', 'gamma'],
    outputsToSave: [false, true, false, true],
    gradFunc: (dys, saved) => {
      const dy = (Array.isArray(dys) ? dys[0] : dys) as tf.Tensor;
      const [x, gamma, mean, invStd] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
      const [dx, dgamma, dbeta] = tf.engine().runKernel(BATCH_NORM_TRAINING.backward, { dy, x, mean, invStd, gamma }) as [
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
      ];
      return { x: () => dx, gamma: () => tf.reshape(dgamma, gamma.shape), beta: () => tf.reshape(dbeta, gamma.shape) };
    },
  });
}

/** The moving averages to update with the batch statistics (tfjs-layers' `momentum`: the weight of the old value). */
export interface MovingStatistics {
  mean: tf.Tensor;
  variance: tf.Tensor;
  momentum: number;
}

export interface FusedBatchNormTrainingResult {
  /** The normalised, scaled and shifted output, x's shape; its gradient is the backward kernel. */
  y: tf.Tensor;
  /** Per-channel batch mean [C] (no gradient flows through it). */
  mean: tf.Tensor1D;
  /** Per-channel biased batch variance [C] (no gradient flows through it). */
  variance: tf.Tensor1D;
  /** With `moving`: the updated moving mean and variance (shape [C]), to assign to the layer's variables. */
  movingMean?: tf.Tensor1D;
  movingVariance?: tf.Tensor1D;
}

/**
 * Training-mode BatchNorm over every axis but the last, as the two fused kernels above. Throws, saying so, where
 * the active backend has not registered them (check `hasFusedBatchNormTraining()` first). The gradient reaches
 * x, gamma and beta through `y` only: `mean` and `variance` are for the moving averages. With `moving`, the same
 * kernel call also returns the updated moving averages (bitwise tfjs-layers' update from the same statistics).
 */
export function fusedBatchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
  moving?: MovingStatistics,
): FusedBatchNormTrainingResult {
  if (!hasFusedBatchNormTraining()) {
    throw new Error(
      `fusedBatchNormTraining: the ${tf.getBackend()} backend has no ${BATCH_NORM_TRAINING.forward} kernel ` +
        "(only the native kernels of @bag-of-tricks/native-kernels register one); use tf.layers.batchNormalization's own path there.",
    );
  }
  const channels = x.shape[x.rank - 1];
  if (x.rank < 2 || channels == null || channels < 1 || x.size === 0) {
    throw new Error(`fusedBatchNormTraining: x must have rank >= 2 and no empty axis, got shape [${x.shape}].`);
  }
  if (x.dtype !== 'float32') throw new Error(`fusedBatchNormTraining: x must be float32, got ${x.dtype}.`);
  if (gamma.size !== channels || beta.size !== channels) {
    throw new Error(`fusedBatchNormTraining: gamma and beta must have ${channels} elements (the last axis of x), got [${gamma.shape}] and [${beta.shape}].`);
  }
  if (!(epsilon > 0)) throw new Error(`fusedBatchNormTraining: epsilon must be > 0, got ${epsilon}.`);
  if (moving && (moving.mean.size !== channels || moving.variance.size !== channels || !(moving.momentum >= 0 && moving.momentum <= 1))) {
    throw new Error(
      `fusedBatchNormTraining: moving.mean and moving.variance must have ${channels} elements and momentum lie in [0, 1], got [${moving.mean.shape}], [${moving.variance.shape}], ${moving.momentum}.`,
    );
  }
  ensureGradient();
  const inputs: tf.NamedTensorMap = moving ? { x, gamma, beta, movingMean: moving.mean, movingVariance: moving.variance } : { x, gamma, beta };
  const attrs: tf.NamedAttrMap = moving ? { epsilon, momentum: moving.momentum } : { epsilon };
  const [y, mean, variance, invStd, movingMean, movingVariance] = tf.engine().runKernel(BATCH_NORM_TRAINING.forward, inputs, attrs) as tf.Tensor[] as [
    tf.Tensor,
    tf.Tensor1D,
    tf.Tensor1D,
    tf.Tensor1D,
    tf.Tensor1D | undefined,
    tf.Tensor1D | undefined,
  ];
  invStd.dispose(); // the tape keeps its own copy for the gradient
  return moving ? { y, mean, variance, movingMean, movingVariance } : { y, mean, variance };
}
