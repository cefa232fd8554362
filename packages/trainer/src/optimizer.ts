import * as tf from '@tensorflow/tfjs-core';
import type { TrainConfig } from './config';

/**
 * The optimiser a config names, at learning rate `lr` (the schedule overwrites it every step through
 * `applyLearningRate`). NAG is tfjs's momentum optimiser with `useNesterov`, the same update as
 * PyTorch's `SGD(nesterov=True)`: v = m·v + g; w -= lr·(g + m·v).
 */
export function createOptimizer(config: TrainConfig['optimizer'], lr: number): tf.Optimizer {
  switch (config.kind) {
    case 'nag':
      return tf.train.momentum(lr, config.momentum, true);
    case 'sgd':
      return config.momentum > 0 ? tf.train.momentum(lr, config.momentum, false) : tf.train.sgd(lr);
    case 'adam':
      return tf.train.adam(lr, config.beta1, config.beta2, config.epsilon);
  }
}

/** Disposes an optimiser and all it holds: tfjs 4.22's Momentum.dispose() forgets the cached -lr scalar its SGD parent keeps in `c`. */
export function disposeOptimizer(optimizer: tf.Optimizer): void {
  optimizer.dispose();
  const cached = (optimizer as unknown as { c?: tf.Tensor }).c;
  if (cached && !cached.isDisposed) cached.dispose();
}
