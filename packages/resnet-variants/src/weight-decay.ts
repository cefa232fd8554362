import type * as tfl from '@tensorflow/tfjs-layers';
import { flattenLayers } from './count';

type LayerVariable = tfl.LayerVariable;

/** The no-bias-decay split of a model's trainable variables (paper §3.1). */
export interface WeightDecayGroups {
  /** Conv and dense kernels (rank >= 2): apply weight decay. */
  decay: LayerVariable[];
  /** Biases, BN gamma and beta (rank 1, or any weight of a normalisation layer): no weight decay. */
  noDecay: LayerVariable[];
  /**
   * The layer-scoped names (`originalName`, as saved in model.json), e.g. 'layer1.0.conv1/kernel'. `.name` is the
   * same unless another model in the session already used it, when tfjs appends '_1', '_2', ….
   */
  decayNames: string[];
  /** Likewise for `noDecay`, e.g. 'layer1.0.bn1/gamma', 'fc/bias'. */
  noDecayNames: string[];
}

const NORMALIZATION_LAYERS = new Set(['BatchNormalization', 'LayerNormalization']);

/**
 * Splits the trainable variables for the no-bias-decay trick: decay on conv and dense kernels only; none on
 * biases and BN gamma/beta. Frozen variables (BN moving statistics) are in neither group. Pass
 * `v.read()` of each variable to an optimiser that wants `tf.Variable`s.
 */
export function weightDecayGroups(model: tfl.LayersModel): WeightDecayGroups {
  const decay: LayerVariable[] = [];
  const noDecay: LayerVariable[] = [];
  const seen = new Set<LayerVariable>();
  for (const layer of flattenLayers(model)) {
    const norm = NORMALIZATION_LAYERS.has(layer.getClassName());
    for (const v of layer.trainableWeights) {
      if (seen.has(v)) continue; // shared layers
      seen.add(v);
      (norm || v.shape.length <= 1 ? noDecay : decay).push(v);
    }
  }
  return { decay, noDecay, decayNames: decay.map((v) => v.originalName), noDecayNames: noDecay.map((v) => v.originalName) };
}
