import type { Scalar, Tensor, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import type { Rng } from './rng';

/** A training batch: NHWC float32 images and one-hot or soft labels of shape [N, K]. */
export interface Batch {
  readonly images: Tensor4D;
  readonly labels: Tensor2D;
}

/** A batch-level augmentation: synchronous, tidy, all randomness from `rng`. */
export type BatchTransform = (batch: Batch, rng: Rng) => Batch;

/** A learning-rate schedule: a pure function of the (0-based) optimiser step. */
export type Schedule = (step: number) => number;

/** A loss with tfjs's own signature, so it works in `model.compile` and in custom loops. */
export type Loss = (yTrue: Tensor, yPred: Tensor) => Scalar;
