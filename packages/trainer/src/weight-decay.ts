import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { weightDecayGroups } from '@bag-of-tricks/resnet-variants';

export interface DecaySplit {
  /** Trainable variables that get L2 decay. */
  readonly decay: tf.Variable[];
  /** Trainable variables left alone (biases, BN gamma/beta under no-bias-decay); their names are logged. */
  readonly excluded: tf.Variable[];
}

/**
 * Which trainable variables weight decay touches. Without `noBiasDecay`: all of them (PyTorch's
 * `SGD(weight_decay=wd)` over `model.parameters()`). With it: exactly the `decay` group of
 * resnet-variants' `weightDecayGroups` (conv and dense kernels).
 */
export function splitDecayVariables(model: LayersModel, noBiasDecay: boolean): DecaySplit {
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  if (!noBiasDecay) return { decay: trainable, excluded: [] };
  const groups = weightDecayGroups(model);
  const decayNames = new Set(groups.decay.map((w) => (w.read() as tf.Variable).name));
  const decay = trainable.filter((v) => decayNames.has(v.name));
  const excluded = trainable.filter((v) => !decayNames.has(v.name));
  return { decay, excluded };
}

/**
 * Adds `weightDecay · w` to the gradient of every variable in `decay` (L2 in the gradient, as
 * PyTorch's SGD does before momentum). Returns a new map; call it inside `tf.tidy`.
 */
export function addWeightDecay(grads: tf.NamedTensorMap, decay: readonly tf.Variable[], weightDecay: number): tf.NamedTensorMap {
  if (weightDecay === 0) return grads;
  const out: tf.NamedTensorMap = { ...grads };
  for (const v of decay) {
    const g = grads[v.name];
    if (g) out[v.name] = tf.add(g, tf.mul(v, weightDecay));
  }
  return out;
}
