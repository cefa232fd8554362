import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { expectTensorsClose } from '@bag-of-tricks/test-utils';
import { initBackend } from '@bag-of-tricks/backend';
import { describe, expect, it } from 'vitest';
import { buildResNet } from '../src/index';
import { torchForward } from './helpers';

/**
 * Loads torchvision weights into our graph by name (our layer names are torchvision's/timm's module names) and
 * compares eval-mode logits. This checks padding alignment, stride placement, the deep stem, the average-pool
 * shortcut with ceil mode at odd sizes, BN epsilon and the layout conversions, against torchvision's own blocks.
 */
function loadTorchWeights(model: tfl.LayersModel, weights: Record<string, { shape: number[]; values: number[] }>): number {
  const used = new Set<string>();
  const take = (key: string): tf.Tensor => {
    const w = weights[key];
    if (!w) throw new Error(`fixture has no ${key}`);
    used.add(key);
    return tf.tensor(w.values, w.shape);
  };
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const n = layer.name;
    let values: tf.Tensor[] = [];
    if (cls === 'Conv2D') values = [tf.transpose(take(`${n}.weight`), [2, 3, 1, 0])]; // OIHW -> HWIO
    else if (cls === 'BatchNormalization')
      values = ['weight', 'bias', 'running_mean', 'running_var'].map((s) => take(`${n}.${s}`));
    else if (cls === 'Dense') values = [tf.transpose(take(`${n}.weight`)), take(`${n}.bias`)];
    else continue;
    layer.setWeights(values);
    tf.dispose(values);
  }
  return Object.keys(weights).filter((k) => !used.has(k)).length;
}

const cases = ['bottleneck-a', 'bottleneck-d', 'basic-small'] as const;

describe.each(['cpu', 'wasm'] as const)('eval-mode logits equal torchvision on %s', (backend) => {
  it.each(cases)('%s', async (name) => {
    await initBackend(backend, { log: () => {} });
    const f = torchForward(name);
    const { config: c } = f;
    const model = buildResNet({
      block: c.block,
      layers: c.layers,
      widths: c.widths,
      stem: c.stem,
      strideOn: c.variant === 'a' ? '1x1' : '3x3',
      avgDown: c.variant === 'd',
      numClasses: c.numClasses,
      inputShape: [c.size, c.size, 3],
    });
    expect(loadTorchWeights(model, f.weights), 'torch weights left unused').toBe(0);
    const x = tf.tensor(f.inputNHWC.values, f.inputNHWC.shape);
    const y = model.predict(x) as tf.Tensor;
    expectTensorsClose(y, tf.tensor(f.logits.values, f.logits.shape), { rtol: 1e-4, atol: 1e-4 });
    tf.dispose([x, y]);
    model.dispose();
  });
});
