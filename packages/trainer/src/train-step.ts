import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { Batch } from '@bag-of-tricks/core';
import { nativeOptimizerStep } from '@bag-of-tricks/backend';
import { addWeightDecay } from './weight-decay';

/** The training loss: targets, student logits and (under distillation) the teacher's logits for the same batch. */
export type StepLoss = (yTrue: tf.Tensor, logits: tf.Tensor, teacherLogits?: tf.Tensor) => tf.Scalar;

export interface TrainStepOptions {
  model: LayersModel;
  optimizer: tf.Optimizer;
  loss: StepLoss;
  /** Variables that get `weightDecay · w` added to their gradient. */
  decayVariables?: readonly tf.Variable[];
  weightDecay?: number;
}

/**
 * One optimiser step, synchronous and inside `tf.tidy`: forward in training mode (BN moving statistics
 * update), loss, gradients of the trainable variables, L2 weight decay on the decay group, apply.
 * Returns the loss (a kept scalar the caller disposes). Teacher logits must be computed by the caller,
 * outside, so no gradient reaches the teacher.
 */
export function createTrainStep({ model, optimizer, loss, decayVariables = [], weightDecay = 0 }: TrainStepOptions) {
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return (batch: Batch, teacherLogits?: tf.Tensor): tf.Scalar =>
    tf.tidy(() => {
      const { value, grads } = optimizer.computeGradients(() => {
        const logits = model.apply(batch.images, { training: true }) as tf.Tensor;
        return loss(batch.labels, logits, teacherLogits);
      }, variables);
      applyGradientsWithDecay(optimizer, grads, decayVariables, weightDecay);
      return value;
    });
}

/**
 * The update half of a step: `weightDecay · w` added to the gradients of `decayVariables`, then
 * `optimizer.applyGradients`. `createTrainStep` and the data-parallel step (on the averaged
 * gradients) both end here. Call it inside `tf.tidy`. Where the native kernels are on (wasm in Node) and
 * the optimizer is momentum/NAG, both run as one native pass per variable (backend's `nativeOptimizerStep`),
 * with bitwise the same result as the tfjs ops below.
 */
export function applyGradientsWithDecay(
  optimizer: tf.Optimizer,
  grads: tf.NamedTensorMap,
  decayVariables: readonly tf.Variable[],
  weightDecay: number,
): void {
  if (nativeOptimizerStep(optimizer, grads, decayVariables, weightDecay)) return;
  optimizer.applyGradients(addWeightDecay(grads, decayVariables, weightDecay));
}
