import * as tf from '@tensorflow/tfjs-core';

export interface BatchNormTrainingResult {
  /** The normalised, scaled and shifted output, same shape as `x`. */
  y: tf.Tensor;
  /** Per-channel batch mean, shape [C]. */
  mean: tf.Tensor1D;
  /** Per-channel biased batch variance (divided by N*H*W), shape [C]. Multiply by m/(m-1) for the unbiased one. */
  variance: tf.Tensor1D;
}

/**
 * Training-mode batch normalisation over every axis but the last (channels-last), with an
 * analytic gradient: tfjs-core's own gradient of moments + batchNorm broadcasts through
 * Tile-heavy kernels, which dominated a wasm training step. Works on every backend.
 *
 * y = gamma * (x - mean) / sqrt(variance + epsilon) + beta, and for m = N*H*W:
 * dbeta = sum(dy), dgamma = sum(dy * xhat), dx = gamma / sqrt(variance + epsilon) *
 * (dy - dbeta / m - xhat * dgamma / m). `epsilon` defaults to 1e-5 (MXNet/Gluon, PyTorch);
 * Keras uses 1e-3.
 */
export function batchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon = 1e-5,
): BatchNormTrainingResult {
  const channels = x.shape[x.rank - 1]!;
  if (x.rank < 2) throw new Error(`batchNormTraining: x must have rank >= 2, got shape [${x.shape}].`);
  if (gamma.size !== channels || beta.size !== channels) {
    throw new Error(`batchNormTraining: gamma and beta must have ${channels} elements (the last axis of x).`);
  }
  const count = x.size / channels;
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  let kept: [tf.Tensor1D, tf.Tensor1D] | undefined;

  const normalise = tf.customGrad((...args: unknown[]) => {
    const [input, g, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const mean = tf.div(tf.sum(input, axes), count) as tf.Tensor1D;
    const centered = tf.sub(input, mean);
    const variance = tf.div(tf.sum(tf.square(centered), axes), count) as tf.Tensor1D;
    const invStd = tf.rsqrt(tf.add(variance, epsilon));
    const xhat = tf.mul(centered, invStd);
    const gammaFlat = tf.reshape(g, [channels]);
    const value = tf.add(tf.mul(xhat, gammaFlat), tf.reshape(b, [channels]));
    save([xhat, invStd, gammaFlat]);
    // customGrad runs f inside a tidy; keep the statistics past it (re-tracked by the caller below).
    kept = [tf.keep(mean), tf.keep(variance)];
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [sXhat, sInvStd, sGamma] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
      const dbeta = tf.sum(dy, axes);
      const dgamma = tf.sum(tf.mul(dy, sXhat), axes);
      const scale = tf.mul(sGamma, sInvStd);
      const dx = tf.mul(tf.sub(tf.sub(dy, tf.div(dbeta, count)), tf.mul(sXhat, tf.div(dgamma, count))), scale);
      return [dx, tf.reshape(dgamma, g.shape), tf.reshape(dbeta, b.shape)];
    };
    return { value, gradFunc };
  });

  const y = normalise(x, gamma, beta);
  const [keptMean, keptVariance] = kept!;
  // Clones are tracked by the caller's scope (tidy); the kept originals are released.
  const mean = keptMean.clone();
  const variance = keptVariance.clone();
  keptMean.dispose();
  keptVariance.dispose();
  return { y, mean, variance };
}
