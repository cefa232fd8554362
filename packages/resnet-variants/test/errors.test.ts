import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildResNet, createResNet, RESNET_VARIANTS, type ResNetName } from '../src/index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('clear errors', () => {
  it('an unknown name lists the valid names', () => {
    expect(() => createResNet('resnet51' as ResNetName)).toThrow(/Unknown ResNet variant "resnet51"; valid names are resnet18, resnet18b, .*resnet152d, resnet20, .*resnet110\./);
    expect(() => createResNet('toString' as ResNetName)).toThrow(/Unknown ResNet variant/);
  });
  it('an input too small for the stem says the minimum and suggests the small stem', () => {
    expect(() => createResNet('resnet50', { inputShape: [28, 28, 1] })).toThrow(
      "input 28x28 is too small for the 'imagenet' stem with 4 stages: the network downsamples by 32, so each side must be at least 32 px. For 28–32 px images use stem: 'small'.",
    );
    expect(() => createResNet('resnet50d', { inputShape: [224, 16, 3] })).toThrow(/'deep' stem .* at least 32 px/);
    expect(() => createResNet('resnet20', { inputShape: [3, 3, 3] })).toThrow(/'small' stem with 3 stages: .* at least 4 px\.$/);
    expect(() => createResNet('resnet18', { stem: 'small', inputShape: [8, 8, 1] })).not.toThrow();
  });
  it('numClasses < 2 (or not an integer) is refused', () => {
    expect(() => createResNet('resnet18', { numClasses: 1 })).toThrow('numClasses must be an integer >= 2, got 1.');
    expect(() => createResNet('resnet18', { numClasses: 2.5 })).toThrow(/numClasses must be an integer >= 2/);
  });
  it('other bad options name the field', () => {
    expect(() => createResNet('resnet18', { width: 0 })).toThrow(/width \(channel multiplier\) must be a positive number/);
    expect(() => createResNet('resnet18', { dropout: 1 })).toThrow(/dropout must be a rate in \[0, 1\)/);
    expect(() => createResNet('resnet18', { stem: 'tiny' as 'small' })).toThrow(/stem must be 'imagenet', 'deep' or 'small'/);
    expect(() => createResNet('resnet50', { strideOn: '3x3x' as '3x3' })).toThrow(/strideOn must be '1x1' \(ResNet-A\) or '3x3' \(ResNet-B\)/);
    expect(() => createResNet('resnet18', { inputShape: [32, 32] as unknown as [number, number, number] })).toThrow(/inputShape must be \[height, width, channels\]/);
    expect(() => createResNet('resnet18', { avgdown: true } as object)).toThrow(/unknown option\(s\) avgdown; valid options are .*avgDown/);
    expect(() => buildResNet({ block: 'bottleneck', layers: [2, 2], widths: [8, 16, 32] })).toThrow(/widths must be 2 positive integers/);
    expect(() => buildResNet({ block: 'bottleneck', layers: [] })).toThrow(/layers must be a non-empty array/);
    expect(() => createResNet('resnet18', { initializer: 'glorot' as 'heNormal' })).toThrow(/initializer must be 'xavierUniform'/);
  });
  it('the variants table is frozen', () => {
    expect(Object.isFrozen(RESNET_VARIANTS)).toBe(true);
    expect(Object.isFrozen(RESNET_VARIANTS.resnet50d)).toBe(true);
    expect(Object.isFrozen(RESNET_VARIANTS.resnet50d.layers)).toBe(true);
    expect(RESNET_VARIANTS.resnet50d).toMatchObject({ block: 'bottleneck', layers: [3, 4, 6, 3], stem: 'deep', strideOn: '3x3', avgDown: true });
  });
});
