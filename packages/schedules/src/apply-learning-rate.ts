import type { Optimizer } from '@tensorflow/tfjs-core';
import { checkRate } from './checks';

/** tfjs-core 4.22 optimizers that read `this.learningRate` inside `applyGradients`, at every step. */
const READ_FIELD_AT_UPDATE = new Set(['Adam', 'Adamax', 'Adagrad', 'Adadelta', 'RMSProp']);

interface LearningRateFields {
  learningRate?: unknown;
  setLearningRate?: (lr: number) => void;
}

/**
 * Sets the learning rate of any tfjs optimizer for its next step. SGD and Momentum cache
 * `-lr` in a kept scalar (`this.c`), so they go through `setLearningRate` (which disposes the old
 * scalar; it is skipped when the rate is unchanged); Adam, Adamax, Adagrad, Adadelta and RMSProp
 * read their `learningRate` field at update time, so the field is set. Anything else throws.
 * Momentum keeps its velocity un-scaled by lr (tfjs, like PyTorch), so a change applies from the next step.
 */
export function applyLearningRate(optimizer: Optimizer, lr: number): void {
  checkRate(lr, 'applyLearningRate: lr');
  const o = optimizer as unknown as LearningRateFields;
  if (typeof o.setLearningRate === 'function') {
    if (o.learningRate !== lr) o.setLearningRate(lr);
    return;
  }
  const name = typeof optimizer?.getClassName === 'function' ? optimizer.getClassName() : String(optimizer);
  if (READ_FIELD_AT_UPDATE.has(name) && typeof o.learningRate === 'number') {
    o.learningRate = lr;
    return;
  }
  throw new TypeError(
    `applyLearningRate: don't know how to set the learning rate of optimizer '${name}'. Known: SGD, Momentum ` +
      `(setLearningRate) and ${[...READ_FIELD_AT_UPDATE].join(', ')} (learningRate field).`,
  );
}
