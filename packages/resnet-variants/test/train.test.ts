import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@bag-of-tricks/backend';
import { expectNoLeak } from '@bag-of-tricks/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResNet, weightDecayGroups, type CreateResNetOptions, type ResNetName } from '../src/index';

beforeAll(async () => {
  expect(await initBackend('wasm', { log: () => {} })).toBe('wasm');
  // The wasm backend of tfjs 4.22 lacks this kernel; @bag-of-tricks/backend registers ours.
  expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
});

/** Each variant at a small size: narrow (width 1/8) so the whole suite stays fast; the graph is the variant's own. */
const VARIANTS: [ResNetName, CreateResNetOptions][] = [
  ['resnet50', { width: 0.125, inputShape: [32, 32, 3] }],
  ['resnet50b', { width: 0.125, inputShape: [32, 32, 3] }],
  ['resnet50c', { width: 0.125, inputShape: [32, 32, 3] }],
  ['resnet50d', { width: 0.125, inputShape: [32, 32, 3] }],
  ['resnet18', { width: 0.25, inputShape: [32, 32, 3] }],
  ['resnet18d', { width: 0.25, inputShape: [32, 32, 3] }],
  ['resnet18', { width: 0.25, inputShape: [28, 28, 1], stem: 'small', dropout: 0.1 }],
  ['resnet20', {}],
];

const built: tfl.LayersModel[] = [];
afterAll(() => built.forEach((m) => m.dispose()));

function batch(model: tfl.LayersModel, n = 2): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const [, h, w, c] = model.inputs[0]!.shape as number[];
  const classes = model.outputs[0]!.shape[1] as number;
  const x = tf.randomNormal([n, h!, w!, c!], 0, 1, 'float32', 1) as tf.Tensor4D;
  const y = tf.oneHot(tf.tensor1d([1, 3].slice(0, n), 'int32'), classes) as tf.Tensor2D;
  return { x, y };
}

describe.each(VARIANTS)('%s %j on wasm', (name, options) => {
  it('runs forward and backward with a non-zero gradient for every trainable variable, then optimiser steps leak no tensors', async () => {
    const model = createResNet(name, { numClasses: 5, seed: 3, zeroGamma: false, ...options });
    built.push(model);
    const { x, y } = batch(model);
    const { decay, noDecay } = weightDecayGroups(model);
    const vars = [...decay, ...noDecay].map((v) => v.read() as tf.Variable);
    expect(vars.length).toBe(model.trainableWeights.length);

    const lossFn = (): tf.Scalar => {
      const logits = model.apply(x, { training: true }) as tf.Tensor;
      return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
    };
    const { value, grads } = tf.variableGrads(lossFn, vars);
    const loss = value.dataSync()[0]!;
    expect(Number.isFinite(loss)).toBe(true);
    // Every variable gets a finite, somewhere non-zero gradient (zeroGamma off, so no branch is cut).
    for (const v of vars) {
      const g = grads[v.name]!;
      expect(g.shape).toEqual(v.shape);
      const abs = tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]!);
      expect(Number.isFinite(abs), v.name).toBe(true);
      expect(abs, `gradient of ${v.name}`).toBeGreaterThan(0);
    }
    tf.dispose([value, ...Object.values(grads)]);

    const optimizer = tf.train.momentum(0.05, 0.9, true);
    await expectNoLeak(() => {
      optimizer.minimize(lossFn, false, vars);
    }, 2);
    const after = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
    expect(after.every(Number.isFinite)).toBe(true);
    optimizer.dispose();
    tf.dispose([x, y]);
  });
});

describe('zero gamma on wasm', () => {
  it("cuts each residual branch at init: its convs get exactly zero gradient, the zeroed BN's gamma does not", () => {
    const model = createResNet('resnet50d', { width: 0.125, inputShape: [32, 32, 3], numClasses: 5, seed: 3 });
    built.push(model);
    const { x, y } = batch(model);
    const byName = new Map(model.trainableWeights.map((w) => [w.originalName, w.read() as tf.Variable]));
    const watched = ['layer2.1.conv1/kernel', 'layer2.1.bn3/gamma', 'layer2.0.downsample.1/kernel'];
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
      watched.map((n) => byName.get(n)!),
    );
    const maxAbs = (n: string) => tf.tidy(() => tf.max(tf.abs(grads[byName.get(n)!.name]!)).dataSync()[0]!);
    expect(maxAbs('layer2.1.conv1/kernel')).toBe(0);
    expect(maxAbs('layer2.1.bn3/gamma')).toBeGreaterThan(0);
    expect(maxAbs('layer2.0.downsample.1/kernel')).toBeGreaterThan(0); // the shortcut still learns
    tf.dispose([value, ...Object.values(grads), x, y]);
  });
});
