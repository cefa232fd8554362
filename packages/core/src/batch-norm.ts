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

export interface FusedBatchNormTrainingResult {
  /** The normalised, scaled and shifted output, x's shape; its gradient is the backward kernel. */
  y: tf.Tensor;
  /** Per-channel batch mean [C] (no gradient flows through it). */
  mean: tf.Tensor1D;
  /** Per-channel biased batch variance [C] (no gradient flows through it). */
  variance: tf.Tensor1D;
}

/**
 * Training-mode BatchNorm over every axis but the last, as the two fused kernels above. Throws, saying so, where
 * the active backend has not registered them (check `hasFusedBatchNormTraining()` first). The gradient reaches
 * x, gamma and beta through `y` only: `mean` and `variance` are for the moving averages.
 */
export function fusedBatchNormTraining(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): FusedBatchNormTrainingResult {
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
  const engine = tf.engine();
  let stats: [tf.Tensor1D, tf.Tensor1D] | undefined;
  const normalise = tf.customGrad((...args: unknown[]) => {
    const [input, g, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [y, mean, variance, invStd] = engine.runKernel(
      BATCH_NORM_TRAINING.forward,
      { x: input, gamma: g, beta: b },
      { epsilon },
    ) as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
    save([input, mean, invStd, g]);
    // customGrad runs f inside a tidy: keep the statistics past it (the caller's scope tracks the clones below).
    stats = [tf.keep(mean), tf.keep(variance)];
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [sx, sMean, sInvStd, sGamma] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
      const [dx, dgamma, dbeta] = engine.runKernel(BATCH_NORM_TRAINING.backward, {
        dy,
        x: sx,
        mean: sMean,
        invStd: sInvStd,
        gamma: sGamma,
      }) as [tf.Tensor, tf.Tensor, tf.Tensor];
      return [dx, tf.reshape(dgamma, g.shape), tf.reshape(dbeta, b.shape)];
    };
    return { value: y, gradFunc };
  });
  const y = normalise(x, gamma, beta);
  const [keptMean, keptVariance] = stats!;
  const mean = keptMean.clone();
  const variance = keptVariance.clone();
  keptMean.dispose();
  keptVariance.dispose();
  return { y, mean, variance };
}
