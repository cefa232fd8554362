import { createRng, rngFromState } from '@bag-of-tricks/core';
import { initBackend } from '@bag-of-tricks/backend';
import { expectTensorsClose } from '@bag-of-tricks/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { cutmix, mixup, sampleCutmix, sampleMixup } from '../src/index';
import { free, makeBatch } from './helpers';

beforeAll(async () => {
  await initBackend('cpu', { log: () => {} });
});

const moments = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, variance: xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length };
};

describe('mixup', () => {
  for (const perSample of [false, true]) {
    for (const partner of ['permutation', 'reverse'] as const) {
      it(`output = lambda x_i + (1 - lambda) x_j, labels too, rows sum to 1 (perSample ${perSample}, ${partner})`, () => {
        const n = 8;
        const batch = makeBatch(n, 3, 4, 3, 10);
        const rng = createRng(11);
        // The draws mixup will make, taken from a copy of the same generator.
        const draw = sampleMixup(rngFromState(rng.getState()), n, { perSample, partner });
        const out = mixup({ perSample, partner })(batch, rng);
        const x = batch.images.arraySync();
        const y = batch.labels.arraySync();
        const outY = out.labels.arraySync();
        const expectedX: number[] = [];
        const expectedY: number[] = [];
        for (let i = 0; i < n; i++) {
          const j = draw.partner[i]!;
          const l = draw.lambda[i]!;
          expectedX.push(...x[i]!.flat(2).map((v, k) => l * v + (1 - l) * x[j]!.flat(2)[k]!));
          expectedY.push(...y[i]!.map((v, k) => l * v + (1 - l) * y[j]![k]!));
          expect(outY[i]!.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
          // Independent of the draw copy: with one-hot labels of different classes, the label row reveals lambda.
          if (j !== i) expect(outY[i]![i % 10]).toBeCloseTo(l, 6);
        }
        expectTensorsClose(out.images, expectedX, { rtol: 1e-6, atol: 1e-4 });
        expectTensorsClose(out.labels, expectedY, { atol: 1e-6 });
        if (partner === 'reverse') expect(draw.partner).toEqual([7, 6, 5, 4, 3, 2, 1, 0]);
        if (!perSample) expect(new Set(draw.lambda).size).toBe(1);
        else expect(new Set(draw.lambda).size).toBe(n);
        free(batch, out);
      });
    }
  }

  it('lambda ~ Beta(0.2, 0.2): mean 0.5, variance 1 / (4 (2 alpha + 1)) = 0.17857', () => {
    const rng = createRng(2019);
    const { lambda } = sampleMixup(rng, 40_000, { alpha: 0.2, perSample: true });
    const { mean, variance } = moments([...lambda]);
    expect(lambda.every((l) => l >= 0 && l <= 1)).toBe(true);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.009); // 4 sigma: sqrt(0.1786 / 4e4) = 0.0021
    expect(Math.abs(variance - 1 / 5.6)).toBeLessThan(0.004);
    // U-shaped: most mass near 0 and 1. P(lambda < 0.1) = I_0.1(0.2, 0.2) = 0.33669 (integral of
    // x^-0.8 (1-x)^-0.8 / B(0.2, 0.2) over [0, 0.1], by the midpoint rule after x = t^5).
    expect(Math.abs(lambda.filter((l) => l < 0.1).length / lambda.length - 0.33669)).toBeLessThan(0.01);
    // One lambda per batch: the per-batch draws have the same law.
    const perBatch = Array.from({ length: 20_000 }, () => sampleMixup(rng, 2).lambda[0]!);
    expect(Math.abs(moments(perBatch).mean - 0.5)).toBeLessThan(0.012);
    expect(Math.abs(moments(perBatch).variance - 1 / 5.6)).toBeLessThan(0.006);
  });

  it('refuses a bad alpha or partner', () => {
    expect(() => mixup({ alpha: 0 })).toThrow(/alpha must be > 0/);
    expect(() => mixup({ partner: 'random' as 'reverse' })).toThrow(/partner/);
  });
});

describe('cutmix', () => {
  it('pastes one box from the partner and weights labels by the pasted area', () => {
    const n = 6;
    const H = 16;
    const W = 12;
    // Image i is constant i + 1, so every pixel tells where it came from.
    const images = tf.tensor4d(Array.from({ length: n * H * W }, (_, k) => Math.floor(k / (H * W)) + 1), [n, H, W, 1]);
    const labels = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5], 'int32'), 6), 'float32') as tf.Tensor2D;
    for (const seed of [1, 2, 3, 4, 5]) {
      const rng = createRng(seed);
      const draw = sampleCutmix(rngFromState(rng.getState()), n, H, W);
      const out = cutmix()({ images, labels }, rng);
      const x = out.images.arraySync();
      const y = out.labels.arraySync();
      for (let i = 0; i < n; i++) {
        const j = draw.partner[i]!;
        const pixels = x[i]!.flat(2);
        const fromPartner = pixels.filter((v) => v === j + 1).length;
        const fromSelf = pixels.filter((v) => v === i + 1).length;
        if (j !== i) {
          expect(fromPartner + fromSelf).toBe(H * W);
          // Label weight of the partner = fraction of pixels actually pasted.
          expect(y[i]![j]).toBeCloseTo(fromPartner / (H * W), 6);
          expect(y[i]![i]).toBeCloseTo(1 - fromPartner / (H * W), 6);
          expect(fromPartner).toBe(draw.box.height * draw.box.width);
        }
        expect(y[i]!.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      }
      free(out);
    }
    free(images, labels);
  });

  it('box geometry follows rand_bbox: side sqrt(1 - lambda), clipped to the image', () => {
    const rng = createRng(8);
    for (let k = 0; k < 500; k++) {
      const d = sampleCutmix(rng, 4, 32, 32);
      const b = d.box;
      expect(b.y >= 0 && b.x >= 0 && b.y + b.height <= 32 && b.x + b.width <= 32).toBe(true);
      expect(d.lambda).toBeCloseTo(1 - (b.height * b.width) / 1024, 12);
      expect(d.lambda).toBeGreaterThanOrEqual(0);
      expect(d.lambda).toBeLessThanOrEqual(1);
    }
  });
});
