import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@bag-of-tricks/backend';
import { registerFileRouter } from '@bag-of-tricks/data';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countFlops, countParams, createResNet, zeroGammaLayers, type CreateResNetOptions, type ResNetName } from '../src/index';
import { layerConfigs, randomizeWeights } from './helpers';

const dir = mkdtempSync(join(tmpdir(), 'resnet-variants-'));
beforeAll(async () => {
  await initBackend('wasm', { log: () => {} });
  registerFileRouter(); // file:// without tfjs-node
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VARIANTS: [ResNetName, CreateResNetOptions][] = [
  ['resnet50', { width: 0.125 }],
  ['resnet50b', { width: 0.125 }],
  ['resnet50c', { width: 0.125 }],
  ['resnet50d', { width: 0.125, dropout: 0.2 }],
  ['resnet18d', { width: 0.25 }],
  ['resnet20', {}],
];

describe.each(VARIANTS)('%s %j', (name, options) => {
  it('saves to file:// and loads back with identical predictions and topology', async () => {
    const model = createResNet(name, { inputShape: [32, 32, 3], numClasses: 7, ...options });
    randomizeWeights(model, 11); // moving statistics too, so eval-mode BN is exercised
    const path = mkdtempSync(join(dir, `${name}-`));
    await model.save(`file://${path}`);
    const loaded = await tfl.loadLayersModel(`file://${join(path, 'model.json')}`);

    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 5);
    const [a, b] = [model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect([...layerConfigs(loaded).values()]).toEqual([...layerConfigs(model).values()]);
    expect(countParams(loaded)).toBe(countParams(model));
    expect(countFlops(loaded)).toBe(countFlops(model));
    expect(zeroGammaLayers(loaded)).toEqual(zeroGammaLayers(model));
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.dispose();
  });
});

it('round-trips through tf.io.withSaveHandler / tf.io.fromMemory too', async () => {
  const model = createResNet('resnet50d', { inputShape: [32, 32, 3], numClasses: 3, width: 0.125 });
  randomizeWeights(model, 2);
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved!));
  const x = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 9);
  const [a, b] = [model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
  expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
  // Standard layers only: nothing custom to register.
  const classes = new Set([...layerConfigs(model).values()].map((l) => l.className));
  expect([...classes].sort()).toEqual(
    ['Add', 'AveragePooling2D', 'BatchNormalization', 'Conv2D', 'Dense', 'GlobalAveragePooling2D', 'InputLayer', 'MaxPooling2D', 'ReLU', 'ZeroPadding2D'].sort(),
  );
  tf.dispose([x, a, b]);
  model.dispose();
  loaded.dispose();
});
