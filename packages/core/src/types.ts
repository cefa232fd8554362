import type { Scalar, Tensor, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import type { Rng } from './rng';

/** A training batch: NHWC float32 images and one-hot or soft labels of shape [N, K]. */
export interface Batch {
  readonly images: Tensor4D;
  readonly labels: Tensor2D;
  /**
   * The dataset indices of the batch's rows, when the producer knows them (the data package's loader
   * sets it; corrupt images it skipped are not in it). Transforms do not carry it over: read it from the
   * loader's batch. Used, for example, to look up cached teacher logits.
   */
  readonly indices?: Int32Array;
}

/** A batch-level augmentation: synchronous, tidy, all randomness from `rng`. */
export type BatchTransform = (batch: Batch, rng: Rng) => Batch;

/** A learning-rate schedule: a pure function of the (0-based) optimiser step. */
export type Schedule = (step: number) => number;

/** A loss with tfjs's own signature, so it works in `model.compile` and in custom loops. */
export type Loss = (yTrue: Tensor, yPred: Tensor) => Scalar;
