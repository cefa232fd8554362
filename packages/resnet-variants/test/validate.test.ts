import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createResNet, DEFAULTS, validateResNetOptions, type ResNetName } from '../src/index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('validateResNetOptions: the error createResNet would throw, without building', () => {
  it('throws the same message as createResNet for the same bad input, and builds nothing', () => {
    const bad: [string, Record<string, unknown>][] = [
      ['resnet18d', { stm: 'small' }],
      ['resnet18d', { stem: 'tiny' }],
      ['resnet50', { width: 0 }],
      ['resnet20', { inputShape: [2, 2, 3] }],
      ['resnet51', {}],
    ];
    for (const [name, options] of bad) {
      let built: string | undefined;
      try {
        createResNet(name as ResNetName, options).dispose();
      } catch (e) {
        built = (e as Error).message;
      }
      expect(built, `${name} ${JSON.stringify(options)}`).toBeDefined();
      const before = tf.memory().numTensors;
      expect(() => validateResNetOptions(name, options)).toThrow(built);
      expect(tf.memory().numTensors).toBe(before);
    }
    expect(() => validateResNetOptions('resnet18', null)).toThrow(/ResNet options must be an object, got null/);
  });

  it('accepts what createResNet accepts', () => {
    expect(() => validateResNetOptions('resnet18d', { stem: 'small', width: 0.25, layers: [1, 1, 1, 1], numClasses: 10, inputShape: [28, 28, 1] })).not.toThrow();
    expect(() => validateResNetOptions('resnet20', {})).not.toThrow();
  });

  it('DEFAULTS are the values a built model gets (paper: zero-gamma on, Xavier init, 1000 ImageNet classes at 224 px)', () => {
    expect(DEFAULTS).toMatchObject({ zeroGamma: true, initializer: 'xavierUniform', numClasses: 1000, inputShape: [224, 224, 3], width: 1, dropout: 0 });
    const m = createResNet('resnet18', { width: 0.125, layers: [1, 1, 1, 1] });
    expect(m.inputs[0]!.shape).toEqual([null, 224, 224, 3]);
    expect(m.outputs[0]!.shape).toEqual([null, 1000]);
    m.dispose();
  });
});
