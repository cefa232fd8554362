import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { FREEZE_PARTS } from './config';

/** The classifier layer of every resnet-variants model (PyTorch's `fc`). */
export const HEAD_LAYER = 'fc';

/** One stored weight: its name as the model's weights are named (`layer1.0.conv1/kernel`), shape and values. */
export interface NamedWeight {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/** A weight's name without tfjs's per-instance `_N` suffixes (a second model in one process gets `fc_1/kernel`). */
export const weightKey = (originalName: string): string => originalName.replace(/_\d+(?=\/|$)/g, '');

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

export interface LoadByNameResult {
  /** Weights copied from the source. */
  readonly loaded: string[];
  /** Weights kept at their fresh initialisation (the classifier, when the number of classes differs). */
  readonly reinitialised: string[];
}

/**
 * Copies weights into `model` by name. Every weight of the model must be in `source` with the same shape,
 * except the classifier's (`fc/kernel`, `fc/bias`) when only its number of classes differs: then the
 * classifier keeps its fresh initialisation and is listed in `reinitialised` (with `newHead`, also when the
 * class counts match: other classes of the same number). Anything else is refused
 * before any weight changes, naming the first weight that does not fit and both shapes; `where` names the source.
 */
export function loadWeightsByName(model: LayersModel, source: readonly NamedWeight[], where: string, options: { newHead?: boolean } = {}): LoadByNameResult {
  const byName = new Map(source.map((w) => [weightKey(w.name), w]));
  const targets = model.weights.map((w) => ({ variable: w, key: weightKey(w.originalName), shape: w.shape as number[] }));
  const head = targets.filter((t) => t.key.startsWith(`${HEAD_LAYER}/`));
  const headKernel = head.find((t) => t.key === `${HEAD_LAYER}/kernel`);
  const srcKernel = byName.get(`${HEAD_LAYER}/kernel`);
  // Only the number of classes (the kernel's last dimension) may differ; its input features must match.
  const reinitHead =
    headKernel !== undefined &&
    srcKernel !== undefined &&
    srcKernel.shape.length === 2 &&
    srcKernel.shape[0] === headKernel.shape[0] &&
    (options.newHead === true || srcKernel.shape[1] !== headKernel.shape[1]);
  const copy: { variable: (typeof targets)[number]['variable']; values: Float32Array }[] = [];
  const reinitialised: string[] = [];
  for (const t of targets) {
    if (reinitHead && head.includes(t)) {
      reinitialised.push(t.key);
      continue;
    }
    const s = byName.get(t.key);
    if (!s) throw new Error(`${where}: has no weight '${t.key}' (shape ${shapeText(t.shape)}), which this model needs: the source is another architecture (check model.name and model.options).`);
    if (s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i])) {
      throw new Error(`${where}: weight '${t.key}' has shape ${shapeText(s.shape)} there but ${shapeText(t.shape)} in this model (the first weight that does not fit; check model.options such as width and layers).`);
    }
    copy.push({ variable: t.variable, values: s.values });
  }
  const wanted = new Set(targets.map((t) => t.key));
  const extra = [...byName.keys()].filter((k) => !wanted.has(k));
  if (extra.length > 0) throw new Error(`${where}: has weight '${extra[0]}' that this model lacks${extra.length > 1 ? ` (${extra.length} in all)` : ''}: the source is another architecture.`);
  for (const { variable, values } of copy) {
    const t = tf.tensor(values, variable.shape as number[], 'float32');
    variable.write(t);
    t.dispose();
  }
  return { loaded: copy.map((c) => weightKey(c.variable.originalName)), reinitialised };
}

/** The part of a resnet-variants model a layer belongs to: 'stem', 'layer1' … 'layer4', or 'head'. */
export function modelPart(layerName: string): (typeof FREEZE_PARTS)[number] | 'head' {
  const name = weightKey(layerName);
  if (name === HEAD_LAYER) return 'head';
  const m = /^layer([1-4])\./.exec(name);
  return m ? (`layer${m[1]}` as 'layer1') : 'stem';
}

export type FreezeSpec = 'none' | 'stem' | 'backbone' | readonly (typeof FREEZE_PARTS)[number][];

/**
 * Freezes the named parts: their layers get `trainable = false` (no gradient, no weight decay, no update),
 * and their BatchNorm layers always run in inference mode (moving statistics, never updated). tfjs-layers'
 * BatchNormalization, unlike Keras's, ignores `trainable` and follows the `training` flag, so the layer's
 * `call` is wrapped to pass `training: false`. Call before the optimiser and train step are created.
 * Returns the names of the frozen layers.
 */
export function freezeLayers(model: LayersModel, freeze: FreezeSpec): string[] {
  if (freeze === 'none') return [];
  const parts = new Set<string>(freeze === 'backbone' ? FREEZE_PARTS : freeze === 'stem' ? ['stem'] : freeze);
  const frozen: string[] = [];
  for (const layer of model.layers) {
    if (layer.weights.length === 0 || !parts.has(modelPart(layer.name))) continue;
    layer.trainable = false;
    if (layer.getClassName() === 'BatchNormalization') {
      const call = layer.call.bind(layer);
      layer.call = (inputs, kwargs) => call(inputs, { ...kwargs, training: false });
    }
    frozen.push(weightKey(layer.name));
  }
  return frozen;
}

/**
 * Discriminative learning rates (fastai's and timm's fine-tuning): every gradient applied through `optimizer`
 * is multiplied by `scale` except the classifier's, so with SGD or NAG (whose update is linear in the
 * gradient, weight decay included) the backbone steps at lr x scale and the head at lr, on the one schedule.
 */
export function scaleBackboneGradients(optimizer: tf.Optimizer, model: LayersModel, scale: number): void {
  if (scale === 1) return;
  const head = new Set(model.getLayer(HEAD_LAYER).weights.map((w) => (w.read() as tf.Variable).name));
  const apply = optimizer.applyGradients.bind(optimizer);
  optimizer.applyGradients = (grads: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[]) => {
    const scaleOne = (name: string, g: tf.Tensor): tf.Tensor => (head.has(name) ? g : tf.mul(g, scale));
    const scaled = Array.isArray(grads)
      ? grads.map(({ name, tensor }) => ({ name, tensor: scaleOne(name, tensor) }))
      : Object.fromEntries(Object.entries(grads).map(([name, g]) => [name, scaleOne(name, g)]));
    try {
      apply(scaled);
    } finally {
      // The scaled copies are ours; the caller's tidy would free them too, but a caller outside tidy must not leak.
      const created = Array.isArray(scaled) ? scaled.map((s) => s.tensor) : Object.values(scaled);
      const given = new Set(Array.isArray(grads) ? grads.map((g) => g.tensor) : Object.values(grads));
      tf.dispose(created.filter((t) => !given.has(t)));
    }
  };
}
