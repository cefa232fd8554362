import { createRng, type Batch, type BatchTransform } from '@bag-of-tricks/core';
import { initBackend } from '@bag-of-tricks/backend';
import { expectNoLeak, expectTensorsClose } from '@bag-of-tricks/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  colorJitter,
  compose,
  cutmix,
  evalPipeline,
  horizontalFlip,
  mixup,
  normalize,
  normalizeGrey,
  pcaLighting,
  randomResizedCrop,
  resizeShorterCenterCrop,
  trainPipeline,
  type EvalPipelineOptions,
  type TrainPipelineOptions,
} from '../src/index';
import { free, makeBatch } from './helpers';

beforeAll(async () => {
  await initBackend('cpu', { log: () => {} });
});

const run = (t: BatchTransform, seed: number, batch: Batch) => {
  const out = t(batch, createRng(seed));
  const data = { images: out.images.dataSync().slice(), labels: out.labels.dataSync().slice(), shape: out.images.shape };
  free(out);
  return data;
};

describe('trainPipeline', () => {
  it('same seed, same batch, bit for bit; another seed differs (paper preset with mixup)', () => {
    const batch = makeBatch(4, 40, 50, 3);
    const t = trainPipeline({ size: 32, mixup: true });
    const a = run(t, 123, batch);
    const b = run(trainPipeline({ size: 32, mixup: true }), 123, batch);
    const c = run(t, 124, batch);
    expect(a.shape).toEqual([4, 32, 32, 3]);
    expect(b.images).toEqual(a.images);
    expect(b.labels).toEqual(a.labels);
    expect(c.images).not.toEqual(a.images);
    free(batch);
  });

  it('runs in the paper order: crop, flip, jitter, lighting, normalize, mixup', () => {
    const batch = makeBatch(3, 20, 24, 3);
    const manual = compose(
      randomResizedCrop({ size: 16 }),
      horizontalFlip(),
      colorJitter({ form: 'hsv', brightness: 0.4, saturation: 0.4, hue: 0.4 }),
      pcaLighting({ alphaStd: 0.1 }),
      normalize(),
      mixup({ alpha: 0.2 }),
    );
    const a = run(manual, 5, batch);
    const b = run(trainPipeline({ size: 16, mixup: true }), 5, batch);
    expect(b.images).toEqual(a.images);
    expect(b.labels).toEqual(a.labels);
    free(batch);
  });

  it('greyscale preset: 28x28x1 in, 28x28x1 out, normalised with Fashion-MNIST statistics', () => {
    // Constant images stay constant through crop, resize and flip, so every output pixel is known by hand:
    // (v - 72.9404) / 90.0212, e.g. 255 -> 2.022408, 0 -> -0.810258, the mean itself -> 0.
    const values = [0, 50, 72.9404, 128, 255];
    const flat = tf.tensor4d(values.flatMap((v) => new Array<number>(28 * 28).fill(v)), [5, 28, 28, 1]);
    const labels = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4], 'int32'), 10), 'float32') as tf.Tensor2D);
    const out = trainPipeline({ preset: 'greyscale' })({ images: flat, labels }, createRng(1));
    expect(out.images.shape).toEqual([5, 28, 28, 1]);
    const hand = [-0.810258, -0.254833, 0, 0.611629, 2.022408];
    values.forEach((v, i) => expect((v - 72.9404) / 90.0212).toBeCloseTo(hand[i]!, 5));
    expectTensorsClose(out.images, tf.tensor4d(hand.flatMap((h) => new Array<number>(28 * 28).fill(h)), [5, 28, 28, 1]), { atol: 2e-6, rtol: 1e-5 });
    // On real pixels: the same seed without normalize gives the raw crops; normalised = (raw - 72.9404) / 90.0212
    // elementwise, so the mean and std follow by hand from the raw ones.
    const batch = makeBatch(5, 28, 28, 1);
    const norm = trainPipeline({ preset: 'greyscale' })(batch, createRng(3));
    const raw = trainPipeline({ preset: 'greyscale', normalize: false })(batch, createRng(3));
    const r = raw.images.dataSync();
    expect(Math.max(...Array.from(r))).toBeGreaterThan(200); // raw 0-255 pixels, not already scaled
    expectTensorsClose(norm.images, Float32Array.from(r, (v) => (v - 72.9404) / 90.0212), { atol: 1e-5, rtol: 1e-5 });
    const stats = (t: tf.Tensor) => tf.tidy(() => {
      const m = tf.moments(t);
      return [m.mean.dataSync()[0]!, Math.sqrt(m.variance.dataSync()[0]!)];
    });
    const [rawMean, rawStd] = stats(raw.images);
    const [mean, std] = stats(norm.images);
    expect(mean).toBeCloseTo((rawMean! - 72.9404) / 90.0212, 5);
    expect(std).toBeCloseTo(rawStd! / 90.0212, 5);
    free(flat, labels, out, batch, norm, raw);
  });

  it('refuses colour steps on 1 channel and bad input with clear errors', () => {
    expect(() => trainPipeline({ channels: 1, colorJitter: true })).toThrow(/need RGB images, but channels is 1/);
    expect(() => trainPipeline({ preset: 'greyscale', lighting: { alphaStd: 0.1 } })).toThrow(/need RGB/);
    expect(() => trainPipeline({ mixup: true, cutmix: true })).toThrow(/mixup or cutmix/);
    expect(() => trainPipeline({ preset: 'imagenet' as 'paper' })).toThrow(/preset must be one of/);
    expect(() => trainPipeline({ colourJitter: false } as TrainPipelineOptions)).toThrow(/unknown option\(s\) colourJitter/);
    expect(() => evalPipeline({ size: 224 } as EvalPipelineOptions)).toThrow(/unknown option\(s\) size/);
    const t = trainPipeline({ size: 8 });
    const rank3 = { images: tf.zeros([8, 8, 3]), labels: tf.zeros([1, 2]) } as unknown as Batch;
    expect(() => t(rank3, createRng(1))).toThrow(/expected a rank-4 tensor \(NHWC\), got rank 3.*expandDims/);
    const ints = { images: tf.zeros([1, 8, 8, 3], 'int32'), labels: tf.zeros([1, 2]) } as unknown as Batch;
    expect(() => t(ints, createRng(1))).toThrow(/float32.*got dtype int32/);
    const grey = { images: tf.zeros([1, 8, 8, 1]), labels: tf.zeros([1, 2]) } as unknown as Batch;
    expect(() => t(grey, createRng(1))).toThrow(/trainPipeline: expected 3 channel\(s\)/);
    const mismatch = { images: tf.zeros([2, 8, 8, 3]), labels: tf.zeros([3, 2]) } as unknown as Batch;
    expect(() => t(mismatch, createRng(1))).toThrow(/2 images but 3 label rows/);
    const before = tf.memory().numTensors;
    expect(() => t(grey, createRng(1))).toThrow();
    expect(tf.memory().numTensors).toBe(before); // a refused batch leaks nothing
    free(rank3, ints, grey, mismatch);
  });
});

describe('evalPipeline', () => {
  it('resize 64 -> crop 56 on a 75x100 batch: centre view, normalised, deterministic', () => {
    // A linear ramp, pixel(n, y, x, c) = y + x / 2 + 40c + 10n: bilinear resizing (half-pixel centres)
    // keeps it linear away from the borders, so each output pixel is worked out by hand.
    // 75x100 -> 64x85 (shorter side 64, width trunc(100 * 64 / 75)); centre 56: rows 4..59, columns 14..69
    // (round-half-even of 14.5); output (i, j) samples source y = (4 + i + 0.5) * 75/64 - 0.5,
    // x = (14 + j + 0.5) * 100/85 - 0.5; then (value - mean_c) / std_c with the paper's ImageNet statistics.
    const [h, w] = [75, 100];
    const px = new Float32Array(2 * h * w * 3);
    for (let n = 0; n < 2; n++)
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) px[((n * h + y) * w + x) * 3 + c] = y + x / 2 + 40 * c + 10 * n;
    const batch = { images: tf.tensor4d(px, [2, h, w, 3]), labels: tf.tensor2d([[1, 0], [0, 1]]) };
    const out = evalPipeline({ resize: 64, crop: 56 })(batch, createRng(1));
    expect(out.images.shape).toEqual([2, 56, 56, 3]);
    const mean = [123.68, 116.779, 103.939];
    const std = [58.393, 57.12, 57.375];
    const expected = new Float32Array(2 * 56 * 56 * 3);
    for (let n = 0; n < 2; n++)
      for (let i = 0; i < 56; i++)
        for (let j = 0; j < 56; j++)
          for (let c = 0; c < 3; c++) {
            const sy = (4 + i + 0.5) * (75 / 64) - 0.5;
            const sx = (14 + j + 0.5) * (100 / 85) - 0.5;
            expected[((n * 56 + i) * 56 + j) * 3 + c] = (sy + sx / 2 + 40 * c + 10 * n - mean[c]!) / std[c]!;
          }
    expectTensorsClose(out.images, expected, { atol: 1e-4, rtol: 1e-4 });
    // Per-channel mean and std, by hand: the crop's mean source point is y = 37 (the image's centre row) and
    // x = 42 * 100/85 - 0.5; var = (75/64)^2 (56^2 - 1)/12 + (1/2)^2 (100/85)^2 (56^2 - 1)/12 + 5^2 (the two images).
    const { mean: m, variance: v } = tf.moments(out.images, [0, 1, 2]);
    const centre = 37 + (42 * (100 / 85) - 0.5) / 2 + 5;
    const spread = Math.sqrt((75 / 64) ** 2 * (3135 / 12) + 0.25 * (100 / 85) ** 2 * (3135 / 12) + 25);
    expectTensorsClose(m, [0, 1, 2].map((c) => (centre + 40 * c - mean[c]!) / std[c]!), { atol: 1e-4, rtol: 1e-4 });
    expectTensorsClose(v.dataSync().map(Math.sqrt), [0, 1, 2].map((c) => spread / std[c]!), { atol: 1e-4, rtol: 1e-4 });
    const again = evalPipeline({ resize: 64, crop: 56 })(batch, createRng(99));
    expectTensorsClose(again.images, out.images, { atol: 0, rtol: 0 });
    free(batch, out, again, m, v);
  });

  it('greyscale: 28x28 in, 28x28 out (resize to 32, centre 28)', () => {
    const batch = makeBatch(2, 28, 28, 1);
    const out = evalPipeline({ preset: 'greyscale' })(batch, createRng(1));
    expect(out.images.shape).toEqual([2, 28, 28, 1]);
    const plain = evalPipeline({ preset: 'greyscale', resize: false, normalize: false })(batch, createRng(1));
    expectTensorsClose(plain.images, batch.images, { atol: 0, rtol: 0 });
    free(batch, out, plain);
  });
});

describe('no leaks over 100 batches', () => {
  const transforms: Record<string, BatchTransform> = {
    randomResizedCrop: randomResizedCrop({ size: 12 }),
    resizeShorterCenterCrop: resizeShorterCenterCrop({ resize: 14, crop: 12 }),
    horizontalFlip: horizontalFlip(),
    colorJitterHsv: colorJitter(),
    colorJitterGluoncv: colorJitter({ form: 'gluoncv', hue: 0.1 }),
    pcaLighting: pcaLighting(),
    normalize: normalize(),
    mixup: mixup({ perSample: true }),
    cutmix: cutmix(),
    compose: compose(),
    trainPaper: trainPipeline({ size: 12, mixup: true }),
    trainGluoncv: trainPipeline({ preset: 'gluoncv', size: 12, cutmix: true }),
    evalPaper: evalPipeline({ resize: 14, crop: 12 }),
  };
  it.each(Object.keys(transforms))('%s', async (name) => {
    const batch = makeBatch(4, 16, 20, 3);
    const rng = createRng(7);
    const t = transforms[name]!;
    await expectNoLeak(() => {
      const out = t(batch, rng);
      return [out.images, out.labels];
    }, 100);
    free(batch);
  });

  it('greyscale pipelines', async () => {
    const batch = makeBatch(4, 28, 28, 1);
    const rng = createRng(7);
    const train = trainPipeline({ preset: 'greyscale', mixup: true });
    const ev = evalPipeline({ preset: 'greyscale' });
    const grey = normalizeGrey();
    await expectNoLeak(() => {
      const a = train(batch, rng);
      const b = ev(batch, rng);
      const c = grey(batch, rng);
      return [a.images, a.labels, b.images, b.labels, c.images, c.labels];
    }, 100);
    free(batch);
  });
});
