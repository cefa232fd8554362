import { createRng } from '@bag-of-tricks/core';
import { expectNoLeak } from '@bag-of-tricks/test-utils';
import { initBackend } from '@bag-of-tricks/backend';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyPixelDrawResized, cropAndResizeBoxes, pixelKernel, pixelPipeline, sampleRandomResizedCrop, type CropBox, type PixelPipelineOptions } from '../src/index';

beforeAll(async () => {
  await initBackend('cpu', { log: () => {} });
});

/** A smooth image with noise (photo-like), h x w x c bytes. */
function photo(h: number, w: number, c: number, seed: number): Uint8Array {
  const rng = createRng(seed);
  const px = new Uint8Array(h * w * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < c; k++) {
        const v = 128 + 100 * Math.sin(0.3 * x * (k + 1) + 0.2 * y + seed) + 30 * (rng.uniform() - 0.5);
        px[(y * w + x) * c + k] = Math.max(0, Math.min(255, Math.round(v)));
      }
  return px;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): { worst: number; at: number } {
  expect(a.length).toBe(b.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  return { worst, at };
}

/** Reference: cropAndResizeBoxes on the whole image (tensor path), then the tensor transforms on `rng`. */
function reference(pipe: ReturnType<typeof pixelPipeline>, imgs: Uint8Array[], h: number, w: number, boxes: CropBox[], out: [number, number], seed: number): Float32Array {
  const c = pipe.channels;
  return tf.tidy(() => {
    const flat = new Float32Array(imgs.length * h * w * c);
    imgs.forEach((im, i) => flat.set(im, i * h * w * c));
    const cropped = cropAndResizeBoxes(tf.tensor4d(flat, [imgs.length, h, w, c]), boxes, out);
    const labels = tf.zeros([imgs.length, 2]) as tf.Tensor2D;
    return pipe.tensorTransform({ images: cropped, labels }, createRng(seed)).images.dataSync() as Float32Array;
  });
}

describe('applyPixelDrawResized: bilinear crop-and-resize fused with the draw equals cropAndResizeBoxes + tensor transforms', () => {
  const cases: [string, PixelPipelineOptions, number][] = [
    ['paper', { preset: 'paper' }, 2e-4],
    ['gluoncv', { preset: 'gluoncv' }, 2e-4],
    ['resize and flip only, 0-255 scale', { colorJitter: false, lighting: false, normalize: false }, 2e-3],
    ['greyscale', { preset: 'greyscale' }, 1e-5],
  ];
  for (const [name, options, atol, kernel] of cases.flatMap(([n, o, a]) => (['wasm', 'js'] as const).map((k) => [`${n} [${k}]`, o, a, k] as const))) {
    it(name, () => {
      pixelKernel(kernel);
      const pipe = pixelPipeline(options);
      const c = pipe.channels;
      const [h, w] = [37, 53];
      for (const seed of [1, 2, 3]) {
        const n = 6;
        const imgs = Array.from({ length: n }, (_, i) => photo(h, w, c, seed * 10 + i));
        const boxRng = createRng(seed, 99);
        // Random-resized-crop boxes: up- and downscaled, some at the image's edges; and the whole image.
        const boxes = imgs.map((_, i) => (i === 0 ? { y: 0, x: 0, height: h, width: w } : sampleRandomResizedCrop(boxRng, h, w)));
        const out: [number, number] = [24, 20];
        const ref = reference(pipe, imgs, h, w, boxes, out, seed);
        const got = new Float32Array(ref.length);
        const rng = createRng(seed);
        const draws = pipe.sample(rng, n);
        const per = out[0] * out[1] * c;
        imgs.forEach((im, i) => pipe.applyResized(im, h, w, boxes[i]!, out[0], out[1], draws[i]!, got, i * per));
        const { worst, at } = maxDiff(got, ref);
        if (!(worst <= atol)) throw new Error(`seed ${seed}: max |diff| ${worst} at ${at}: got ${got[at]}, expected ${ref[at]}`);
      }
      pixelKernel('wasm');
    });
  }

  it('a region with one pixel of margin around the box gives what the whole image gives', () => {
    const pipe = pixelPipeline({ preset: 'paper' });
    const [h, w] = [40, 50];
    const img = photo(h, w, 3, 4);
    const box = { y: 7, x: 11, height: 20, width: 9 };
    const region = { y: 6, x: 10, height: 22, width: 11 };
    const sub = new Uint8Array(region.height * region.width * 3);
    for (let y = 0; y < region.height; y++) sub.set(img.subarray(((region.y + y) * w + region.x) * 3, ((region.y + y) * w + region.x + region.width) * 3), y * region.width * 3);
    const draw = pipe.sample(createRng(5), 1)[0]!;
    const whole = new Float32Array(16 * 16 * 3);
    const part = new Float32Array(16 * 16 * 3);
    pipe.applyResized(img, h, w, box, 16, 16, draw, whole);
    pipe.applyResized(sub, region.height, region.width, { y: 1, x: 1, height: 20, width: 9 }, 16, 16, draw, part);
    expect(Array.from(part)).toEqual(Array.from(whole));
  });

  it('an unscaled box is an exact copy, and bilinear halfway samples are the mean of their neighbours (by hand)', () => {
    const src = Uint8Array.from([10, 20, 30, 40, 50, 60, 70, 80, 90]); // 3x3 grey
    const out = new Float32Array(4);
    applyPixelDrawResized(src, 3, 3, { y: 1, x: 1, height: 2, width: 2 }, 2, 2, { flip: false }, { channels: 1 }, out);
    expect(Array.from(out)).toEqual([50, 60, 80, 90]);
    // 2x2 box upscaled to 4x4: output (0, 0) samples source (0.75 - 0.5 + 1 - ... ) = y = x = 1 - 0.25 = 0.75 of the
    // whole image: rows 0 and 1 weighted 0.25 / 0.75, columns likewise.
    const up = new Float32Array(16);
    applyPixelDrawResized(src, 3, 3, { y: 1, x: 1, height: 2, width: 2 }, 4, 4, { flip: false }, { channels: 1 }, up);
    const at = (yy: number, xx: number) => src[yy * 3 + xx]!;
    const hand = 0.25 * (0.25 * at(0, 0) + 0.75 * at(0, 1)) + 0.75 * (0.25 * at(1, 0) + 0.75 * at(1, 1));
    expect(up[0]).toBeCloseTo(hand, 5);
    // Flip mirrors the output columns.
    const flipped = new Float32Array(16);
    applyPixelDrawResized(src, 3, 3, { y: 1, x: 1, height: 2, width: 2 }, 4, 4, { flip: true }, { channels: 1 }, flipped);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) expect(flipped[y * 4 + x]).toBe(up[y * 4 + 3 - x]);
  });

  it('checks the source, the box and the output room', () => {
    const out = new Float32Array(12);
    const src = new Uint8Array(27);
    expect(() => applyPixelDrawResized(src, 3, 3, { y: 0, x: 0, height: 4, width: 3 }, 2, 2, { flip: false }, { channels: 3 }, out)).toThrow(/does not lie inside the 3x3 source/);
    expect(() => applyPixelDrawResized(src, 3, 4, { y: 0, x: 0, height: 3, width: 3 }, 2, 2, { flip: false }, { channels: 3 }, out)).toThrow(/expected 3x4x3 = 36 source values, got 27/);
    expect(() => applyPixelDrawResized(src, 3, 3, { y: 0, x: 0, height: 3, width: 3 }, 2, 2, { flip: false }, { channels: 3 }, out, 1)).toThrow(/no room/);
  });

  it('makes no tensors', async () => {
    const pipe = pixelPipeline({ preset: 'paper' });
    const img = photo(10, 10, 3, 1);
    const out = new Float32Array(8 * 8 * 3);
    await expectNoLeak(() => {
      pipe.applyResized(img, 10, 10, { y: 1, x: 1, height: 8, width: 7 }, 8, 8, pipe.sample(createRng(1), 1)[0]!, out);
    });
  });
});
