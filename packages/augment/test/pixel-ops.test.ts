import { createRng } from '@bag-of-tricks/core';
import { initBackend } from '@bag-of-tricks/backend';
import { expectTensorsClose } from '@bag-of-tricks/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  colorJitter,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  horizontalFlip,
  IMAGENET_MEAN,
  IMAGENET_STD,
  normalize,
  normalizeGrey,
  pcaLighting,
  rgbToHsv,
} from '../src/index';
import { at4, free, makeBatch } from './helpers';
import { scriptedRng } from './scripted-rng';

beforeAll(async () => {
  await initBackend('cpu', { log: () => {} });
});

const pixels = (rgb: number[][]) => ({
  images: tf.tensor4d(rgb.flat(), [1, 1, rgb.length, 3]),
  labels: tf.tensor2d([[0, 1]]),
});

describe('horizontalFlip', () => {
  it('is exact: image n, column x becomes column W - 1 - x, bit for bit', () => {
    const batch = makeBatch(2, 3, 5, 3);
    const out = horizontalFlip({ p: 1 })(batch, createRng(1));
    const a = batch.images.dataSync();
    const b = out.images.dataSync();
    const s = batch.images.shape;
    for (let n = 0; n < 2; n++)
      for (let y = 0; y < 3; y++)
        for (let x = 0; x < 5; x++) for (let c = 0; c < 3; c++) expect(at4(b, s, n, y, x, c)).toBe(at4(a, s, n, y, 4 - x, c));
    tf.dispose([batch.images, batch.labels, out.images, out.labels]);
  });

  it('flips each image independently with p = 0.5: each output is the original or its mirror', () => {
    const batch = makeBatch(400, 2, 3, 1);
    const out = horizontalFlip()(batch, createRng(2));
    const a = batch.images.arraySync();
    const b = out.images.arraySync();
    let flipped = 0;
    for (let n = 0; n < 400; n++) {
      const same = JSON.stringify(b[n]) === JSON.stringify(a[n]);
      const mirror = JSON.stringify(b[n]) === JSON.stringify(a[n]!.map((row) => [...row].reverse()));
      expect(same || mirror).toBe(true);
      if (mirror) flipped++;
    }
    expect(Math.abs(flipped / 400 - 0.5)).toBeLessThan(0.1); // 4 sigma = 0.1
    tf.dispose([batch.images, batch.labels, out.images, out.labels]);
  });
});

describe('colorJitter, HSV form (the paper)', () => {
  it('rgbToHsv matches hand conversions, including hues that wrap', () => {
    // (200,100,50): max R, C = 150, h = ((100-50)/150)/6 = 1/18, s = 0.75, v = 200/255.
    // (50,200,100): max G, h = ((100-50)/150 + 2)/6 = 7/18. (100,50,200): max B, h = ((100-50)/150 + 4)/6 = 13/18.
    // (200,50,100): max R, (50-100)/150 = -1/3 -> mod 6 = 17/3, h = 17/18. Grey (80,80,80): h = s = 0.
    const x = tf.div(tf.tensor4d([200, 100, 50, 50, 200, 100, 100, 50, 200, 200, 50, 100, 80, 80, 80, 0, 0, 0], [1, 1, 6, 3]), 255) as tf.Tensor4D;
    const hsv = rgbToHsv(x);
    expectTensorsClose(
      hsv,
      [1 / 18, 0.75, 200 / 255, 7 / 18, 0.75, 200 / 255, 13 / 18, 0.75, 200 / 255, 17 / 18, 0.75, 200 / 255, 0, 0, 80 / 255, 0, 0, 0],
      { atol: 1e-6 },
    );
    free(x, hsv);
  });

  it('scales hue, saturation and value of a pixel as worked by hand', () => {
    // (200,100,50) -> h = 1/18 (20 deg), s = 0.75, v = 200/255. Hue x1.3 -> 26 deg, sat x0.8 -> 0.6,
    // value x1.2 -> 240/255. Back: R = v = 240; chroma = 240 * 0.6 = 144, min = 96; sector 0 so
    // G = 96 + 144 * 26/60 = 158.4, B = 96.
    const b = pixels([[200, 100, 50]]);
    const out = colorJitter({ form: 'hsv', hue: 0.3, brightness: [1.2, 1.2], saturation: [0.8, 0.8] })(b, scriptedRng({ fractions: [1, 0, 0] }));
    expectTensorsClose(out.images, [240, 158.4, 96], { atol: 1e-3 });
    // Value clips at 255: (200,100,50) x1.4 -> v = 280/255 -> 1; identity hue and saturation:
    // R = 255, chroma = 255 * 0.75 = 191.25, min 63.75, G = 63.75 + 191.25 * 20/60 = 127.5.
    const out2 = colorJitter({ hue: 0, brightness: [1.4, 1.4], saturation: [1, 1] })(b, createRng(1));
    expectTensorsClose(out2.images, [255, 127.5, 63.75], { atol: 1e-3 });
    // Identity coefficients give the input back.
    const out3 = colorJitter({ hue: 0, brightness: 0, saturation: 0 })(b, createRng(1));
    expectTensorsClose(out3.images, [200, 100, 50], { atol: 1e-3 });
    free(b, out, out2, out3);
  });

  it('draws coefficients in [0.6, 1.4]: a grey pixel (hue, saturation 0) only scales its value', () => {
    const b = { images: tf.fill([200, 1, 1, 3], 100) as tf.Tensor4D, labels: tf.zeros([200, 2]) as tf.Tensor2D };
    const out = colorJitter()(b, createRng(4));
    const d = out.images.dataSync();
    const ratios = Array.from({ length: 200 }, (_, n) => d[n * 3]! / 100);
    for (let n = 0; n < 200; n++) expect(d[n * 3 + 1]).toBeCloseTo(d[n * 3]!, 3);
    expect(Math.min(...ratios)).toBeGreaterThanOrEqual(0.6 - 1e-6);
    expect(Math.max(...ratios)).toBeLessThanOrEqual(1.4 + 1e-6);
    expect(Math.min(...ratios)).toBeLessThan(0.65);
    expect(Math.max(...ratios)).toBeGreaterThan(1.35);
    free(b, out);
  });
});

describe('colorJitter, GluonCV form', () => {
  // MXNet's ColorJitterAug, step by step on plain arrays (image.py), to check the closed form
  // and that the random order does not matter.
  const luma = (p: number[]) => 0.299 * p[0]! + 0.587 * p[1]! + 0.114 * p[2]!;
  const ops = {
    brightness: (img: number[][], a: number) => img.map((p) => p.map((v) => v * a)),
    contrast: (img: number[][], a: number) => {
      const m = img.reduce((s, p) => s + luma(p), 0) / img.length;
      return img.map((p) => p.map((v) => a * v + (1 - a) * m));
    },
    saturation: (img: number[][], a: number) => img.map((p) => p.map((v) => a * v + (1 - a) * luma(p))),
  };
  const img = [
    [200, 100, 50],
    [0, 50, 100],
    [30, 220, 90],
  ];
  const coef = { brightness: 1.1, contrast: 0.8, saturation: 1.2 };

  it('equals MXNet ColorJitterAug applied in every one of the six orders', () => {
    const b = pixels(img);
    const out = colorJitter({ form: 'gluoncv', brightness: [1.1, 1.1], contrast: [0.8, 0.8], saturation: [1.2, 1.2], clip: false })(b, createRng(3));
    const orders = [
      ['brightness', 'contrast', 'saturation'],
      ['brightness', 'saturation', 'contrast'],
      ['contrast', 'brightness', 'saturation'],
      ['contrast', 'saturation', 'brightness'],
      ['saturation', 'brightness', 'contrast'],
      ['saturation', 'contrast', 'brightness'],
    ] as const;
    for (const order of orders) {
      const expected = order.reduce((x, name) => ops[name](x, coef[name]), img);
      expectTensorsClose(out.images, expected.flat(), { atol: 2e-3 });
    }
    free(b, out);
  });

  it('hand-worked: brightness 1.1, contrast 0.8, saturation 1.2 on a two-pixel image', () => {
    // Lumas 124.2 and 40.75; after x1.1: 136.62 and 44.825, mean 90.7225. Contrast: 0.8 x + 18.1445
    // -> pixel 0 (194.1445, 106.1445, 62.1445), luma 127.4405. Saturation: 1.2 x - 0.2 * 127.4405
    // -> (207.4853, 101.8853, 49.0853).
    const b = pixels(img.slice(0, 2));
    const out = colorJitter({ form: 'gluoncv', brightness: [1.1, 1.1], contrast: [0.8, 0.8], saturation: [1.2, 1.2] })(b, createRng(3));
    expectTensorsClose(tf.slice(out.images, [0, 0, 0, 0], [1, 1, 1, 3]), [207.4853, 101.8853, 49.0853], { atol: 2e-3 });
    free(b, out);
  });

  it('hue: MXNet HueJitterAug YIQ rotation, worked by hand for a half turn', () => {
    // alpha = 1 (pi): I and Q change sign. (200,100,50): Y = 124.2, I = 119.2 - 27.4 - 16.05 = 75.75,
    // Q = 42.2 - 52.3 + 15.55 = 5.45. Back with I = -75.75, Q = -5.45:
    // R = 124.2 - 0.956*75.75 - 0.621*5.45 = 48.39855; G = 124.2 + 0.272*75.75 + 0.647*5.45 = 148.33015;
    // B = 124.2 + 1.107*75.75 - 1.705*5.45 = 198.763.
    const b = pixels([[200, 100, 50]]);
    const jitter = colorJitter({ form: 'gluoncv', brightness: 0, contrast: 0, saturation: 0, hue: 1 });
    const out = jitter(b, scriptedRng({ fractions: [0, 0, 0, 1] }));
    expectTensorsClose(out.images, [48.39855, 148.33015, 198.763], { atol: 1e-3 });
    free(b, out);
  });

  it('refuses greyscale images and a contrast option on the HSV form', () => {
    const grey = { images: tf.zeros([1, 4, 4, 1]) as tf.Tensor4D, labels: tf.zeros([1, 2]) as tf.Tensor2D };
    expect(() => colorJitter()(grey, createRng(1))).toThrow(/expected 3 channel\(s\).*RGB-only/);
    expect(() => pcaLighting()(grey, createRng(1))).toThrow(/expected 3 channel/);
    expect(() => colorJitter({ contrast: 0.4 })).toThrow(/no contrast/);
    free(grey);
  });
});

describe('pcaLighting', () => {
  it('adds V (alpha . lambda) to every pixel, as worked by hand', () => {
    // alpha = (0.1, -0.2, 0.05) (std 0.1 x normals 1, -2, 0.5); alpha . lambda = (5.546, -0.9588, 0.0574).
    // R: -0.5675*5.546 + 0.7192*-0.9588 + 0.4009*0.0574 = -3.147355 - 0.689569 + 0.023012 = -3.813912
    // G: -0.5808*5.546 - 0.0045*-0.9588 - 0.8140*0.0574 = -3.221117 + 0.004315 - 0.046724 = -3.263526
    // B: -0.5836*5.546 - 0.6948*-0.9588 + 0.4203*0.0574 = -3.236646 + 0.666174 + 0.024125 = -2.546347
    const b = pixels([
      [10, 20, 30],
      [250, 128, 0],
    ]);
    const out = pcaLighting()(b, scriptedRng({ normals: [1, -2, 0.5] }));
    expectTensorsClose(out.images, [10 - 3.813912, 20 - 3.263526, 30 - 2.546347, 250 - 3.813912, 128 - 3.263526, 0 - 2.546347], { atol: 1e-4 });
    free(b, out);
  });
});

describe('normalize', () => {
  it('gives (x - mean) / std with the paper constants', () => {
    const b = pixels([
      [123.68 + 58.393, 116.779, 103.939 - 2 * 57.375],
      [0, 255, 128],
    ]);
    const out = normalize()(b, createRng(0));
    expect(IMAGENET_MEAN).toEqual([123.68, 116.779, 103.939]);
    expect(IMAGENET_STD).toEqual([58.393, 57.12, 57.375]);
    expectTensorsClose(out.images, [1, 0, -2, -123.68 / 58.393, (255 - 116.779) / 57.12, (128 - 103.939) / 57.375], { atol: 1e-5 });
    free(b, out);
  });

  it('greyscale: Fashion-MNIST defaults (computed from the 60k training images) and custom mean/std', () => {
    // fixtures/fashion_mnist_stats.py: mean 72.940352, std 90.021182.
    expect(FASHION_MNIST_MEAN).toBeCloseTo(72.940352, 3);
    expect(FASHION_MNIST_STD).toBeCloseTo(90.021182, 3);
    const b = { images: tf.tensor4d([0, 72.9404, 72.9404 + 90.0212, 255], [1, 2, 2, 1]), labels: tf.zeros([1, 2]) as tf.Tensor2D };
    const out = normalizeGrey()(b, createRng(0));
    expectTensorsClose(out.images, [-72.9404 / 90.0212, 0, 1, (255 - 72.9404) / 90.0212], { atol: 1e-5 });
    const out2 = normalizeGrey({ mean: 127.5, std: 127.5 })(b, createRng(0));
    expectTensorsClose(out2.images, [-1, 72.9404 / 127.5 - 1, (72.9404 + 90.0212) / 127.5 - 1, 1], { atol: 1e-5 });
    expect(() => normalize()(b, createRng(0))).toThrow(/expected 3 channel/);
    free(b, out, out2);
  });
});
