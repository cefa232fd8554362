import { initBackend } from '@bag-of-tricks/backend';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS, evalResizeFor, PIXEL_PATH_KEYS, PRESETS, validateAugmentOptions } from '../src';

beforeAll(async () => {
  await initBackend('cpu', { log: () => {} });
});

describe('defaults, written once', () => {
  it('evalResizeFor is round(crop / 0.875): the eval view of torchvision ImageNet (256 -> 224) and 32 -> 28', () => {
    // Worked by hand: 224 / 0.875 = 256, 28 / 0.875 = 32, 24 / 0.875 = 27.43 -> 27, 299 / 0.875 = 341.71 -> 342.
    expect([224, 28, 24, 299].map(evalResizeFor)).toEqual([256, 32, 27, 342]);
    expect([PRESETS.paper.evalResize, PRESETS.gluoncv.evalResize, PRESETS.greyscale.evalResize]).toEqual([256, 256, 32]);
  });

  it('collects the paper values (He et al. 2019 §2.1, §5)', () => {
    expect(DEFAULTS.crop.scale).toEqual([0.08, 1]);
    expect(DEFAULTS.presets.greyscale.scale).toEqual([0.35, 1]);
    expect(DEFAULTS.flip.p).toBe(0.5);
    expect(DEFAULTS.pcaLighting.alphaStd).toBe(0.1);
    expect(DEFAULTS.mixup.alpha).toBe(0.2);
    expect(DEFAULTS.resample).toEqual({ dataset: 'lanczos3', loader: 'bilinear' });
  });
});

describe('validateAugmentOptions', () => {
  it('accepts good options and makes no tensor', () => {
    const before = tf.memory().numTensors;
    validateAugmentOptions({ scale: [0.3, 1], colorJitter: { brightness: 0.2 }, mixup: true });
    validateAugmentOptions({ preset: 'greyscale', size: 28, flip: false });
    validateAugmentOptions({ scale: [0.2, 1], ratio: [0.5, 2], lighting: false }, { target: 'pixel' });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('throws the pipeline error naming the option and what is allowed', () => {
    expect(() => validateAugmentOptions({ flipp: true })).toThrow(/trainPipeline: unknown option\(s\) flipp; the options are preset, channels, size/);
    expect(() => validateAugmentOptions({ preset: 'greyscale', colorJitter: true })).toThrow(/colour jitter and PCA lighting need RGB images/);
    expect(() => validateAugmentOptions({ scale: [0.9, 0.1] })).toThrow(/scale/);
    expect(() => validateAugmentOptions({ preset: 'sepia' })).toThrow(/preset must be one of paper, gluoncv, greyscale, got "sepia"/);
    expect(() => validateAugmentOptions({ size: 32 }, { target: 'pixel' })).toThrow(
      new RegExp(`augment: size cannot be used on the per-image path .*allowed: ${PIXEL_PATH_KEYS.join(', ')}`),
    );
    expect(() => validateAugmentOptions([1, 2])).toThrow(/augment: must be an object of augmentation options, got \[1,2\]/);
  });
});
