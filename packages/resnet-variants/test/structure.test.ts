import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResNet, RESNET_VARIANTS, type ResNetName } from '../src/index';
import { inboundOf, layerConfigs } from './helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// Small inputs: the graph, not the resolution, is under test.
const models = new Map<string, tfl.LayersModel>();
const model = (name: ResNetName, options = {}): tfl.LayersModel => {
  const key = name + JSON.stringify(options);
  if (!models.has(key)) models.set(key, createResNet(name, { inputShape: [64, 64, 3], numClasses: 10, ...options }));
  return models.get(key)!;
};
afterAll(() => models.forEach((m) => m.dispose()));

const conv = (m: tfl.LayersModel, name: string) => {
  const l = layerConfigs(m).get(name);
  expect(l, `layer ${name}`).toBeDefined();
  expect(l!.className).toBe('Conv2D');
  return l!.config as { kernel_size: number[]; strides: number[]; filters: number; padding: string; use_bias: boolean };
};

describe('ResNet-A and -B: where the stride of a downsampling bottleneck sits', () => {
  it('A strides the first 1x1 conv; the 3x3 has stride 1', () => {
    const m = model('resnet50');
    for (const stage of [2, 3, 4]) {
      expect(conv(m, `layer${stage}.0.conv1`)).toMatchObject({ kernel_size: [1, 1], strides: [2, 2] });
      expect(conv(m, `layer${stage}.0.conv2`)).toMatchObject({ kernel_size: [3, 3], strides: [1, 1], padding: 'same' });
      expect(conv(m, `layer${stage}.0.downsample.0`)).toMatchObject({ kernel_size: [1, 1], strides: [2, 2] });
    }
  });
  it('B strides the 3x3 conv, padded 1 on every side like PyTorch; the 1x1 has stride 1', () => {
    const m = model('resnet50b');
    const configs = layerConfigs(m);
    for (const stage of [2, 3, 4]) {
      expect(conv(m, `layer${stage}.0.conv1`)).toMatchObject({ kernel_size: [1, 1], strides: [1, 1] });
      expect(conv(m, `layer${stage}.0.conv2`)).toMatchObject({ kernel_size: [3, 3], strides: [2, 2], padding: 'valid' });
      expect(inboundOf(m, `layer${stage}.0.conv2`)).toEqual([`layer${stage}.0.conv2.pad`]);
      expect(configs.get(`layer${stage}.0.conv2.pad`)!.config.padding).toEqual([[1, 1], [1, 1]]);
    }
    // Non-downsampling blocks and stage 1 never stride.
    expect(conv(m, 'layer1.0.conv2').strides).toEqual([1, 1]);
    expect(conv(m, 'layer3.5.conv2').strides).toEqual([1, 1]);
  });
  it('all convs are bias-free (torchvision bias=False); only fc has a bias', () => {
    const m = model('resnet50b');
    for (const [name, l] of layerConfigs(m)) {
      if (l.className === 'Conv2D') expect(l.config.use_bias, name).toBe(false);
    }
    expect(layerConfigs(m).get('fc')!.config.use_bias).toBe(true);
  });
});

describe('the stems', () => {
  it('A/B: 7x7 conv stride 2 (64), then 3x3 max pool stride 2, both padded like PyTorch', () => {
    const m = model('resnet50');
    expect(conv(m, 'conv1')).toMatchObject({ kernel_size: [7, 7], strides: [2, 2], filters: 64 });
    expect(layerConfigs(m).get('conv1.pad')!.config.padding).toEqual([[3, 3], [3, 3]]);
    expect(layerConfigs(m).get('maxpool')!.config).toMatchObject({ pool_size: [3, 3], strides: [2, 2] });
  });
  it('C: three 3x3 convs of 32, 32, 64 channels, the first with stride 2, each followed by BN; no 7x7 conv', () => {
    for (const name of ['resnet50c', 'resnet50d', 'resnet18c'] as const) {
      const m = model(name);
      expect(conv(m, 'conv1.0')).toMatchObject({ kernel_size: [3, 3], strides: [2, 2], filters: 32 });
      expect(conv(m, 'conv1.3')).toMatchObject({ kernel_size: [3, 3], strides: [1, 1], filters: 32 });
      expect(conv(m, 'conv1.6')).toMatchObject({ kernel_size: [3, 3], strides: [1, 1], filters: 64 });
      expect(inboundOf(m, 'conv1.3')).toEqual(['conv1.2']);
      expect(inboundOf(m, 'conv1.2')).toEqual(['conv1.1']);
      expect(layerConfigs(m).get('conv1.1')!.className).toBe('BatchNormalization');
      expect(inboundOf(m, 'bn1')).toEqual(['conv1.6']);
      const kernels = [...layerConfigs(m).values()].filter((l) => l.className === 'Conv2D').map((l) => l.config.kernel_size);
      expect(kernels).not.toContainEqual([7, 7]);
      expect(layerConfigs(m).has('maxpool')).toBe(true);
      // C keeps B's stride placement.
      if (name !== 'resnet18c') expect(conv(m, 'layer2.0.conv2').strides).toEqual([2, 2]);
    }
  });
  it("'small': one 3x3 conv with stride 1 and no max pool", () => {
    const m = model('resnet18', { stem: 'small', inputShape: [32, 32, 3] });
    expect(conv(m, 'conv1')).toMatchObject({ kernel_size: [3, 3], strides: [1, 1], filters: 64 });
    expect(layerConfigs(m).has('maxpool')).toBe(false);
    expect(inboundOf(m, 'layer1.0.conv1')).toEqual(['relu']);
  });
});

describe('ResNet-D: the downsampling shortcut', () => {
  it('is a 2x2 average pool with stride 2, then a 1x1 conv with stride 1, then BN', () => {
    const m = model('resnet50d');
    const configs = layerConfigs(m);
    for (const stage of [2, 3, 4]) {
      const p = `layer${stage}.0.downsample`;
      expect(configs.get(`${p}.0`)!.className).toBe('AveragePooling2D');
      expect(configs.get(`${p}.0`)!.config).toMatchObject({ pool_size: [2, 2], strides: [2, 2] });
      expect(inboundOf(m, `${p}.0`)).toEqual([`layer${stage - 1}.${RESNET_VARIANTS.resnet50.layers[stage - 2]! - 1}.relu`]);
      expect(conv(m, `${p}.1`)).toMatchObject({ kernel_size: [1, 1], strides: [1, 1] });
      expect(inboundOf(m, `${p}.1`)).toEqual([`${p}.0`]);
      expect(configs.get(`${p}.2`)!.className).toBe('BatchNormalization');
      expect(inboundOf(m, `layer${stage}.0.add`)).toEqual([`layer${stage}.0.bn3`, `${p}.2`]);
    }
  });
  it('the stride-1 projection of stage 1 (64 -> 256 channels) has no pool', () => {
    const m = model('resnet50d');
    expect(layerConfigs(m).has('layer1.0.downsample.0')).toBe(false);
    expect(inboundOf(m, 'layer1.0.downsample.1')).toEqual(['maxpool']);
  });
  it('A, B and C use a strided 1x1 conv instead', () => {
    for (const name of ['resnet50', 'resnet50b', 'resnet50c'] as const) {
      expect(conv(model(name), 'layer2.0.downsample.0').strides).toEqual([2, 2]);
    }
  });
});

describe('blocks, BN and initialisation', () => {
  it('BN matches torchvision: epsilon 1e-5, momentum 0.1 on the batch (Keras 0.9)', () => {
    const bns = [...layerConfigs(model('resnet50d')).values()].filter((l) => l.className === 'BatchNormalization');
    expect(bns).toHaveLength(53 + 2); // 53 of torchvision's resnet50 plus the deep stem's extra two
    for (const bn of bns) expect(bn.config).toMatchObject({ epsilon: 1e-5, momentum: 0.9 });
  });
  it('zero gamma: only the last BN of each block starts at 0, by default', () => {
    const m = model('resnet50');
    const zeroInit = [...layerConfigs(m)].filter(([, l]) => (l.config.gamma_initializer as { class_name?: string })?.class_name === 'Zeros');
    expect(zeroInit.map(([n]) => n)).toEqual(
      [3, 4, 6, 3].flatMap((n, s) => Array.from({ length: n }, (_, b) => `layer${s + 1}.${b}.bn3`)),
    );
    const off = model('resnet50', { zeroGamma: false });
    const gamma = off.getLayer('layer1.0.bn3').getWeights()[0]!;
    expect(Array.from(gamma.dataSync())).toEqual(Array(256).fill(1));
    expect(Array.from(m.getLayer('layer1.0.bn3').getWeights()[0]!.dataSync())).toEqual(Array(256).fill(0));
  });
  it('kernels are Xavier uniform: within ±sqrt(6 / (fanIn + fanOut)) with the uniform variance limit²/3', () => {
    const m = model('resnet50', { seed: 1 });
    const cases: [string, number, number][] = [
      ['layer3.0.conv2', 9 * 256, 9 * 256], // 3x3, 256 -> 256
      ['fc', 2048, 10],
    ];
    for (const [name, fanIn, fanOut] of cases) {
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      const values = m.getLayer(name).getWeights()[0]!.dataSync();
      let max = 0;
      let sq = 0;
      for (const v of values) {
        max = Math.max(max, Math.abs(v));
        sq += v * v;
      }
      expect(max).toBeLessThanOrEqual(limit);
      expect(max).toBeGreaterThan(limit * 0.99);
      expect(sq / values.length / (limit * limit / 3)).toBeCloseTo(1, 1);
    }
    expect(layerConfigs(m).get('fc')!.config.bias_initializer).toMatchObject({ class_name: 'Zeros' });
  });
  it('a seed makes the weights reproducible, and each layer gets its own stream', () => {
    const a = createResNet('resnet20', { seed: 7 });
    const b = createResNet('resnet20', { seed: 7 });
    const c = createResNet('resnet20', { seed: 8 });
    const w = (m: tfl.LayersModel, n: string) => Array.from(m.getLayer(n).getWeights()[0]!.dataSync());
    expect(w(a, 'layer1.1.conv1')).toEqual(w(b, 'layer1.1.conv1'));
    expect(w(a, 'layer1.1.conv1')).not.toEqual(w(c, 'layer1.1.conv1'));
    expect(w(a, 'layer1.1.conv1')).not.toEqual(w(a, 'layer1.1.conv2')); // same shape, different stream
    [a, b, c].forEach((m) => m.dispose());
  });
  it('width multiplier scales every channel count; dropout adds a layer before fc', () => {
    const m = model('resnet18', { width: 0.5, dropout: 0.2 });
    expect(conv(m, 'conv1').filters).toBe(32);
    expect(conv(m, 'layer4.1.conv2').filters).toBe(256);
    expect(layerConfigs(m).get('dropout')!.config.rate).toBe(0.2);
    expect(inboundOf(m, 'fc')).toEqual(['dropout']);
    expect(m.outputs[0]!.shape).toEqual([null, 10]);
  });
});

describe('CIFAR ResNet-20', () => {
  it('3x3 stem of 16, three stages of 3 basic blocks (16/32/64), option-B projections only where shapes change', () => {
    const m = createResNet('resnet20');
    const configs = layerConfigs(m);
    expect(conv(m, 'conv1')).toMatchObject({ kernel_size: [3, 3], strides: [1, 1], filters: 16 });
    const blocks = [...configs.keys()].filter((n) => /^layer\d\.\d+\.add$/.test(n));
    expect(blocks).toHaveLength(9);
    expect([16, 32, 64].map((f, s) => conv(m, `layer${s + 1}.2.conv2`).filters)).toEqual([16, 32, 64]);
    const projections = [...configs.keys()].filter((n) => n.endsWith('downsample.0'));
    expect(projections).toEqual(['layer2.0.downsample.0', 'layer3.0.downsample.0']);
    expect(conv(m, 'layer2.0.downsample.0')).toMatchObject({ kernel_size: [1, 1], strides: [2, 2], filters: 32 });
    expect(m.inputs[0]!.shape).toEqual([null, 32, 32, 3]);
    expect(m.outputs[0]!.shape).toEqual([null, 10]);
    // 6n+2 = 20 weighted layers: 19 convs on the main path plus fc.
    const mainConvs = [...configs.entries()].filter(([n, l]) => l.className === 'Conv2D' && !n.includes('downsample'));
    expect(mainConvs.length + 1).toBe(20);
    m.dispose();
  });
});
