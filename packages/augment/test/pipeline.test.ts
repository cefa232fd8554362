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
    const batch = makeBatch(5, 28, 28, 1);
    const out = trainPipeline({ preset: 'greyscale' })(batch, createRng(1));
    expect(out.images.shape).toEqual([5, 28, 28, 1]);
    const d = out.images.dataSync();
    const min = Math.min(...Array.from(d));
    expect(min).toBeGreaterThanOrEqual(-72.9404 / 90.0212 - 1e-4);
    free(batch, out);
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
    const batch = makeBatch(2, 75, 100, 3);
    const out = evalPipeline({ resize: 64, crop: 56 })(batch, createRng(1));
    expect(out.images.shape).toEqual([2, 56, 56, 3]);
    const again = evalPipeline({ resize: 64, crop: 56 })(batch, createRng(99));
    expectTensorsClose(again.images, out.images, { atol: 0, rtol: 0 });
    free(batch, out, again);
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
