import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { createResNet, weightDecayGroups, zeroGammaLayers } from '../src/index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const size = (v: tfl.LayerVariable) => v.shape.reduce((a: number, b) => a * (b as number), 1);

describe('weightDecayGroups (no bias decay)', () => {
  it('names are the layer-scoped names even when another model already used them', () => {
    const first = createResNet('resnet20');
    const second = createResNet('resnet20');
    expect(weightDecayGroups(second).noDecayNames).toContain('bn1/gamma');
    expect(weightDecayGroups(second).noDecay.map((v) => v.name)).not.toContain('bn1/gamma'); // tfjs made it unique
    first.dispose();
    second.dispose();
  });
  it('resnet50: 53 conv kernels + fc kernel decay; 53 BN gamma/beta pairs + fc bias do not', () => {
    const model = createResNet('resnet50', { inputShape: [64, 64, 3] });
    const g = weightDecayGroups(model);
    expect(g.decay).toHaveLength(54);
    expect(g.noDecay).toHaveLength(53 * 2 + 1);
    expect(g.decayNames.every((n) => n.endsWith('/kernel'))).toBe(true);
    expect(g.noDecayNames.every((n) => /\/(gamma|beta|bias)$/.test(n))).toBe(true);
    expect(g.noDecayNames).toContain('fc/bias');
    expect(g.decayNames).toContain('layer1.0.downsample.0/kernel');
    // torchvision's 25,557,032 = decayed weights + 2 * 26,560 BN channels + 1000 fc biases.
    expect(g.decay.reduce((s, v) => s + size(v), 0)).toBe(25_557_032 - 53_120 - 1000);
    expect(g.noDecay.reduce((s, v) => s + size(v), 0)).toBe(53_120 + 1000);
    // Frozen BN statistics are in neither group.
    expect([...g.decayNames, ...g.noDecayNames].some((n) => n.includes('moving'))).toBe(false);
    model.dispose();
  });
});

describe('zeroGammaLayers', () => {
  it('names the last BN of each block: bn3 for bottlenecks (16 in resnet50), bn2 for basic blocks (8 in resnet18)', () => {
    const r50 = createResNet('resnet50d', { inputShape: [64, 64, 3], width: 0.125 });
    expect(zeroGammaLayers(r50)).toEqual([3, 4, 6, 3].flatMap((n, s) => Array.from({ length: n }, (_, b) => `layer${s + 1}.${b}.bn3`)));
    const r18 = createResNet('resnet18', { inputShape: [64, 64, 3], width: 0.125, zeroGamma: false });
    expect(zeroGammaLayers(r18)).toEqual([2, 2, 2, 2].flatMap((n, s) => Array.from({ length: n }, (_, b) => `layer${s + 1}.${b}.bn2`)));
    r50.dispose();
    r18.dispose();
  });
  it('works on a hand-built residual model with a BN shortcut', () => {
    const x = tfl.input({ shape: [8, 8, 4] });
    const main = tfl.layers.batchNormalization({ name: 'main_bn' }).apply(
      tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(
        tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(x),
      ),
    ) as tfl.SymbolicTensor;
    const short = tfl.layers.batchNormalization({ name: 'short_bn' }).apply(
      tfl.layers.conv2d({ filters: 4, kernelSize: 1 }).apply(x),
    ) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: x, outputs: tfl.layers.add().apply([short, main]) as tfl.SymbolicTensor });
    expect(zeroGammaLayers(model)).toEqual(['main_bn']);
    model.dispose();
  });
});
