import { initBackend } from '@bag-of-tricks/backend';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '@bag-of-tricks/core';
import {
  DEFAULTS,
  evalPipeline,
  evalResizeFor,
  IMAGENET_EVAL_RESIZE,
  IMAGENET_SIZE,
  PIXEL_PATH_KEYS,
  PRESETS,
  randomResizedCrop,
  resizeShorterCenterCrop,
  resizeShorterCenterCropBox,
  trainPipeline,
  validateAugmentOptions,
} from '../src';

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

describe('the ImageNet sizes, written once', () => {
  const batch = (h: number, w: number) => ({
    // A ramp, so a different resize gives different pixels.
    images: tf.tensor4d(Float32Array.from({ length: h * w * 3 }, (_, i) => i % 251), [1, h, w, 3]),
    labels: tf.tensor2d([[1, 0]]),
  });

  it('are torchvision / He et al. 2019: crop 224, eval resize 256 = evalResizeFor(224)', () => {
    expect(IMAGENET_SIZE).toBe(224);
    expect(IMAGENET_EVAL_RESIZE).toBe(256);
    expect(IMAGENET_EVAL_RESIZE).toBe(evalResizeFor(IMAGENET_SIZE));
    expect([PRESETS.paper.size, PRESETS.gluoncv.size, PRESETS.paper.evalResize, PRESETS.gluoncv.evalResize]).toEqual([
      IMAGENET_SIZE,
      IMAGENET_SIZE,
      IMAGENET_EVAL_RESIZE,
      IMAGENET_EVAL_RESIZE,
    ]);
  });

  it('every factory default reads them (a re-typed literal that differs fails here)', () => {
    // The box: a 300 x 500 image's default box is the one with the constants spelt out, not another resize.
    const explicit = resizeShorterCenterCropBox(300, 500, { resize: IMAGENET_EVAL_RESIZE, crop: IMAGENET_SIZE });
    expect(resizeShorterCenterCropBox(300, 500)).toEqual(explicit);
    expect(resizeShorterCenterCropBox(300, 500, { crop: IMAGENET_SIZE })).toEqual(explicit);
    expect(resizeShorterCenterCropBox(300, 500, { resize: IMAGENET_EVAL_RESIZE })).toEqual(explicit);
    const before = tf.memory().numTensors;
    const b = batch(20, 30);
    const rng = createRng(1);
    const sides = (t: { images: tf.Tensor }) => t.images.shape.slice(1, 3);
    const rrc = randomResizedCrop()(b, rng);
    const train = trainPipeline()(b, rng);
    expect([sides(rrc), sides(train)]).toEqual([
      [IMAGENET_SIZE, IMAGENET_SIZE],
      [IMAGENET_SIZE, IMAGENET_SIZE],
    ]);
    // The eval view: same pixels as with the constants spelt out.
    const byDefault = resizeShorterCenterCrop()(b, rng);
    const spelt = resizeShorterCenterCrop({ resize: IMAGENET_EVAL_RESIZE, crop: IMAGENET_SIZE })(b, rng);
    const other = resizeShorterCenterCrop({ resize: IMAGENET_EVAL_RESIZE + 8, crop: IMAGENET_SIZE })(b, rng);
    expect(sides(byDefault)).toEqual([IMAGENET_SIZE, IMAGENET_SIZE]);
    // Compared as one number: a diff of 150k values would take vitest minutes to print.
    const maxDiff = (a: tf.Tensor, b: tf.Tensor): number => {
      const [x, y] = [a.dataSync() as Float32Array, b.dataSync() as Float32Array];
      let m = 0;
      for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs((x[i] as number) - (y[i] as number)));
      return m;
    };
    expect(maxDiff(byDefault.images, spelt.images)).toBe(0);
    expect(maxDiff(byDefault.images, other.images)).toBeGreaterThan(1);
    const ev = evalPipeline()(b, rng);
    const evSpelt = evalPipeline({ resize: IMAGENET_EVAL_RESIZE, crop: IMAGENET_SIZE })(b, rng);
    expect(maxDiff(ev.images, evSpelt.images)).toBe(0);
    for (const t of [b, rrc, train, byDefault, spelt, other, ev, evSpelt]) tf.dispose([t.images, t.labels]);
    expect(tf.memory().numTensors).toBe(before);
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
