import { createRng } from '@bag-of-tricks/core';
import { initBackend } from '@bag-of-tricks/backend';
import { expectTensorsClose } from '@bag-of-tricks/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { cropAndResizeBoxes, randomResizedCrop, resizeShorterCenterCrop, sampleRandomResizedCrop } from '../src/index';
import reference from './fixtures/torchvision-reference.json';
import { makeBatch } from './helpers';

beforeAll(async () => {
  await initBackend('cpu', { log: () => {} });
});

describe('cropAndResizeBoxes', () => {
  it('matches a hand-worked half-pixel bilinear value, edges clamped', () => {
    // 2x2 image [[0, 10], [20, 30]] to 4x4: output (1, 1) samples source (0.25, 0.25):
    // 0 * .75 * .75 + 10 * .75 * .25 + 20 * .25 * .75 + 30 * .25 * .25 = 7.5.
    // Output (0, 0) samples (-0.25, -0.25), clamped to pixel (0, 0) = 0; output (3, 3) -> 30.
    // Output (0, 2) samples (-0.25 -> 0, 0.75): 0 * .25 + 10 * .75 = 7.5.
    const img = tf.tensor4d([0, 10, 20, 30], [1, 2, 2, 1]);
    const out = cropAndResizeBoxes(img, [{ y: 0, x: 0, height: 2, width: 2 }], 4);
    const d = out.dataSync();
    expect(d[0]).toBeCloseTo(0, 5);
    expect(d[5]).toBeCloseTo(7.5, 5);
    expect(d[2]).toBeCloseTo(7.5, 5);
    expect(d[15]).toBeCloseTo(30, 5);
    tf.dispose([img, out]);
  });

  it('equals torchvision F.resized_crop(antialias=False) wherever torchvision does not clamp to the crop', () => {
    const { height: H, width: W, image_nhwc, cases } = reference.crop;
    const images = tf.tensor4d(image_nhwc, [2, H, W, 3]);
    let compared = 0;
    for (const c of cases) {
      const [i, j, h, w] = c.box as [number, number, number, number];
      const [oh, ow] = c.size as [number, number];
      const one = tf.slice(images, [c.image, 0, 0, 0], [1, -1, -1, -1]);
      const out = cropAndResizeBoxes(one, [{ y: i, x: j, height: h, width: w }], [oh, ow]);
      const got = out.dataSync();
      // torchvision crops first, so samples beyond the crop's edge repeat the edge; we read the
      // real neighbour instead. Both agree where the sample lies inside the crop or beyond an IMAGE edge.
      const ok = (k: number, start: number, len: number, out: number, full: number) => {
        const s = start + ((k + 0.5) * len) / out - 0.5;
        return (s >= start || start === 0) && (s <= start + len - 1 || start + len === full);
      };
      for (let y = 0; y < oh; y++) {
        for (let x = 0; x < ow; x++) {
          if (!ok(y, i, h, oh, H) || !ok(x, j, w, ow, W)) continue;
          for (let ch = 0; ch < 3; ch++) {
            const k = (y * ow + x) * 3 + ch;
            expect(Math.abs(got[k]! - c.out_hwc[k]!), `case ${JSON.stringify(c.box)} (${y},${x},${ch})`).toBeLessThan(2e-3);
            compared++;
          }
        }
      }
      tf.dispose([one, out]);
    }
    // Whole image (2 cases) and inner downscale (1 case) compare fully: 5*6*3 + 4*3*3 + 10*12*3 = 486.
    expect(compared).toBeGreaterThan(486 + 100);
    images.dispose();
  });

  it('refuses boxes outside the image', () => {
    const img = tf.zeros([1, 4, 4, 3]) as tf.Tensor4D;
    expect(() => cropAndResizeBoxes(img, [{ y: 2, x: 0, height: 3, width: 2 }], 2)).toThrow(/inside the 4x4 image/);
    img.dispose();
  });
});

describe('randomResizedCrop (transform)', () => {
  it('crops each image with the box drawn for it, in order', () => {
    const batch = makeBatch(3, 20, 30, 3);
    const out = randomResizedCrop({ size: [8, 10] })(batch, createRng(9));
    expect(out.images.shape).toEqual([3, 8, 10, 3]);
    const rng = createRng(9);
    const boxes = [0, 1, 2].map(() => sampleRandomResizedCrop(rng, 20, 30));
    const expected = cropAndResizeBoxes(batch.images, boxes, [8, 10]);
    expectTensorsClose(out.images, expected, { atol: 0, rtol: 0 });
    expectTensorsClose(out.labels, batch.labels, { atol: 0, rtol: 0 });
    tf.dispose([batch.images, batch.labels, out.images, out.labels, expected]);
  });
});

describe('resizeShorterCenterCrop', () => {
  it('equals torchvision Resize(8, antialias=False) + CenterCrop(6) on 7x9 and 9x7 batches', () => {
    for (const c of reference.eval) {
      const images = tf.tensor4d(c.input_nhwc, [2, c.height, c.width, 3]);
      const labels = tf.ones([2, 1]) as tf.Tensor2D;
      const out = resizeShorterCenterCrop({ resize: c.resize, crop: c.crop })({ images, labels }, createRng(0));
      expect(out.images.shape).toEqual([2, 6, 6, 3]);
      expectTensorsClose(out.images, c.out_nhwc, { atol: 2e-3, rtol: 0 });
      tf.dispose([images, labels, out.images, out.labels]);
    }
  });
});
