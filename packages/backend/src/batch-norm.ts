import * as tf from '@tensorflow/tfjs-core';
import { fusedBatchNormTraining, hasFusedBatchNormTraining } from '@bag-of-tricks/core';

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
 *
 * Where the active backend registers core's fused kernels (`BATCH_NORM_TRAINING`: the native kernels on wasm), a
 * float32 `x` with `epsilon > 0` runs them instead, one forward and one backward kernel: the same values up to the
 * order of the per-channel sums.
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
  if (epsilon > 0 && x.dtype === 'float32' && x.size > 0 && hasFusedBatchNormTraining()) {
    const { y, mean, variance } = fusedBatchNormTraining(x, gamma, beta, epsilon);
    return { y, mean, variance };
  }
  const count = x.size / channels;
  let kept: [tf.Tensor1D, tf.Tensor1D] | undefined;

  const normalise = tf.customGrad((...args: unknown[]) => {
    const [input, g, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const ops = channelOps(count, channels);
    const x2d = tf.reshape(input, [count, channels]);
    const mean = tf.div(ops.sum(x2d), count) as tf.Tensor1D;
    const centered = tf.sub(x2d, ops.broadcast(mean));
    const variance = tf.div(ops.sum(tf.square(centered)), count) as tf.Tensor1D;
    const invStd = tf.rsqrt(tf.add(variance, epsilon));
    const xhat = tf.mul(centered, ops.broadcast(invStd));
    const gammaFlat = tf.reshape(g, [channels]);
    const value = tf.reshape(tf.add(tf.mul(xhat, ops.broadcast(gammaFlat)), ops.broadcast(tf.reshape(b, [channels]))), input.shape);
    save([xhat, invStd, gammaFlat]);
    // customGrad runs f inside a tidy; keep the statistics past it (re-tracked by the caller below).
    kept = [tf.keep(mean), tf.keep(variance)];
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [sXhat, sInvStd, sGamma] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
      const bops = channelOps(count, channels);
      const dy2d = tf.reshape(dy, [count, channels]);
      const dbeta = bops.sum(dy2d);
      const dgamma = bops.sum(tf.mul(dy2d, sXhat));
      const centeredDy = tf.sub(
        tf.sub(dy2d, bops.broadcast(tf.div(dbeta, count))),
        tf.mul(sXhat, bops.broadcast(tf.div(dgamma, count))),
      );
      const dx = tf.mul(centeredDy, bops.broadcast(tf.mul(sGamma, sInvStd)));
      return [tf.reshape(dx, dy.shape), tf.reshape(dgamma, g.shape), tf.reshape(dbeta, b.shape)];
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

/**
 * Per-channel sum and broadcast over an [m, C] matrix. On wasm, reductions over leading axes
 * transpose and broadcasting binary ops take a slow generic path (13x a same-shape multiply),
 * so there both are matrix products with a ones vector; elsewhere the plain ops.
 */
function channelOps(count: number, channels: number) {
  if (tf.getBackend() !== 'wasm') {
    return {
      sum: (t: tf.Tensor): tf.Tensor1D => tf.sum(t, 0),
      broadcast: (v: tf.Tensor): tf.Tensor => tf.reshape(v, [1, channels]),
    };
  }
  const ones = tf.ones([count, 1]) as tf.Tensor2D;
  return {
    sum: (t: tf.Tensor): tf.Tensor1D => tf.reshape(tf.matMul(tf.reshape(ones, [1, count]), t as tf.Tensor2D), [channels]),
    broadcast: (v: tf.Tensor): tf.Tensor => tf.matMul(ones, tf.reshape(v, [1, channels])),
  };
}
