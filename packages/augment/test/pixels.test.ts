import { createRng } from '@bag-of-tricks/core';
import { initBackend } from '@bag-of-tricks/backend';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  applyPixelDraw,
  compose,
  flipPixels,
  gluoncvJitterPixels,
  hsvJitterPixels,
  IMAGENET_MEAN,
  IMAGENET_STD,
  mixup,
  normalizePixels,
  pcaLightingOffset,
  pcaLightingPixels,
  pixelKernel,
  pixelPipeline,
  type PixelPipelineOptions,
} from '../src/index';

beforeAll(async () => {
  await initBackend('cpu', { log: () => {} });
});

/** n images h x w x c of bytes with the awkward cases: grey, black, white, saturated primaries, ties at the maximum. */
function images(n: number, h: number, w: number, c: number, seed: number): Uint8Array[] {
  const rng = createRng(seed);
  const special = [
    [0, 0, 0],
    [255, 255, 255],
    [128, 128, 128],
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [200, 200, 10],
    [10, 200, 200],
    [200, 10, 200],
    [255, 254, 0],
  ];
  return Array.from({ length: n }, (_, i) => {
    const px = new Uint8Array(h * w * c);
    for (let k = 0; k < px.length; k++) px[k] = rng.int(0, 256);
    if (c === 3) special.forEach((s, j) => px.set(s, ((j + i) % (h * w)) * 3));
    return px;
  });
}

/** The tensor path on the same images and rng: the reference. */
function viaTensors(pipe: ReturnType<typeof pixelPipeline>, imgs: Uint8Array[], h: number, w: number, seed: number, extra?: ReturnType<typeof mixup>) {
  const c = pipe.channels;
  const flat = new Float32Array(imgs.length * h * w * c);
  imgs.forEach((im, i) => flat.set(im, i * h * w * c));
  const batch = { images: tf.tensor4d(flat, [imgs.length, h, w, c]), labels: tf.cast(tf.oneHot(tf.tensor1d(imgs.map((_, i) => i % 3), 'int32'), 3), 'float32') as tf.Tensor2D };
  const rng = createRng(seed);
  const t = extra ? compose(pipe.tensorTransform, extra) : pipe.tensorTransform;
  const out = t(batch, rng);
  const result = { images: out.images.dataSync().slice() as Float32Array, labels: out.labels.dataSync().slice() as Float32Array, next: rng.uniform() };
  tf.dispose([batch.images, batch.labels, out.images, out.labels]);
  return result;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  if (!(worst <= atol)) throw new Error(`max |diff| ${worst} at ${at}: got ${actual[at]}, expected ${expected[at]} (atol ${atol})`);
}

describe('pixelPipeline equals the tensor transforms on the same draws', () => {
  const cases: [string, PixelPipelineOptions, number][] = [
    ['paper (flip, HSV jitter, lighting, normalize)', { preset: 'paper' }, 2e-4],
    ['gluoncv (flip, b/c/s jitter, lighting, normalize)', { preset: 'gluoncv' }, 2e-4],
    ['gluoncv with YIQ hue 0.3', { preset: 'gluoncv', colorJitter: { form: 'gluoncv', hue: 0.3 } }, 2e-4],
    ['HSV, unclipped, no normalize (0-255 scale)', { colorJitter: { form: 'hsv', clip: false, brightness: [0.5, 1.9] }, normalize: false }, 5e-3],
    ['no jitter, lighting only, no flip', { colorJitter: false, flip: false }, 2e-4],
    ['flip p = 1 only (exact)', { colorJitter: false, lighting: false, normalize: false, flip: { p: 1 } }, 0],
    ['greyscale (flip, Fashion-MNIST normalize)', { preset: 'greyscale' }, 1e-5],
  ];
  it('the WebAssembly SIMD kernel loads in Node (so the cases below test it), and can be switched off', () => {
    expect(pixelKernel()).toBe('wasm');
    expect(pixelKernel('js')).toBe('js');
    expect(pixelKernel('wasm')).toBe('wasm');
    expect(() => pixelKernel('gpu' as 'js')).toThrow(/kind must be 'wasm' or 'js', got "gpu"/);
  });
  for (const [name, options, atol] of cases.flatMap(([n, o, a]) => (['wasm', 'js'] as const).map((k) => [`${n} [${k}]`, o, a, k] as const))) {
    it(name, () => {
      const kernel = name.endsWith('[js]') ? 'js' : 'wasm';
      pixelKernel(kernel);
      const pipe = pixelPipeline(options);
      const [h, w] = [5, 7];
      for (const seed of [1, 2, 3]) {
        const imgs = images(6, h, w, pipe.channels, seed);
        const ref = viaTensors(pipe, imgs, h, w, seed);
        const rng = createRng(seed);
        const got = pipe.applyBatch(imgs, h, w, rng);
        expectClose(got, ref.images, atol);
        // The same number of draws: the rng ends in the same state.
        expect(rng.uniform()).toBe(ref.next);
        // Float input gives the same as bytes.
        // Float input (always the float64 JS loops) gives the same as bytes: bit for bit on the JS kernel.
        const gotF = pipe.applyBatch(imgs.map((im) => Float32Array.from(im)), h, w, createRng(seed));
        if (kernel === 'js') expect(Array.from(gotF)).toEqual(Array.from(got));
        else expectClose(gotF, got, atol);
      }
      pixelKernel('wasm');
    });
  }

  it('a mixup after the pixel path sees the same rng as after the tensor path', () => {
    const pipe = pixelPipeline({ preset: 'paper' });
    const [h, w, seed] = [4, 6, 11];
    const imgs = images(5, h, w, 3, seed);
    const ref = viaTensors(pipe, imgs, h, w, seed, mixup({ alpha: 0.2 }));
    const rng = createRng(seed);
    const px = pipe.applyBatch(imgs, h, w, rng);
    const batch = { images: tf.tensor4d(px, [5, h, w, 3]), labels: tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1], 'int32'), 3), 'float32') as tf.Tensor2D };
    const out = mixup({ alpha: 0.2 })(batch, rng);
    expectClose(out.images.dataSync(), ref.images, 2e-4);
    expectClose(out.labels.dataSync(), ref.labels, 1e-7);
    tf.dispose([batch.images, batch.labels, out.images, out.labels]);
  });

  it('runs on 224 x 224 images with the tensor results (paper preset)', () => {
    const pipe = pixelPipeline();
    const imgs = images(2, 224, 224, 3, 5);
    const ref = viaTensors(pipe, imgs, 224, 224, 5);
    expectClose(pipe.applyBatch(imgs, 224, 224, createRng(5)), ref.images, 2e-4);
  });
});

describe('pixel functions against hand-worked pixels', () => {
  const one = (rgb: number[]) => Uint8Array.from(rgb);

  it('HSV jitter: hue, saturation and value scaled as worked by hand', () => {
    // Pure green: h = 1/3; hue x1.5 -> h = 1/2, cyan.
    expectClose(hsvJitterPixels(one([0, 255, 0]), 1, 1, { hue: 1.5, saturation: 1, value: 1 }), [0, 255, 255], 1e-4);
    // (200, 100, 100): h = 0, s = 0.5, v = 200/255. Saturation x0.5 -> s = 0.25: (200, 150, 150).
    expectClose(hsvJitterPixels(one([200, 100, 100]), 1, 1, { hue: 1, saturation: 0.5, value: 1 }), [200, 150, 150], 1e-4);
    // Value x1.2 -> (240, 120, 120); x1.4 -> 280 clipped to 255 with the same saturation: (255, 127.5, 127.5).
    expectClose(hsvJitterPixels(one([200, 100, 100]), 1, 1, { hue: 1, saturation: 1, value: 1.2 }), [240, 120, 120], 1e-4);
    expectClose(hsvJitterPixels(one([200, 100, 100]), 1, 1, { hue: 1, saturation: 1, value: 1.4 }), [255, 127.5, 127.5], 1e-4);
    expectClose(hsvJitterPixels(one([200, 100, 100]), 1, 1, { hue: 1, saturation: 1, value: 1.4 }, { clip: false }), [280, 140, 140], 1e-4);
    // Grey has no hue or saturation: only value moves it.
    expectClose(hsvJitterPixels(one([100, 100, 100]), 1, 1, { hue: 1.4, saturation: 1.4, value: 0.5 }), [50, 50, 50], 1e-4);
    // Saturation x2 on (200, 150, 150) (s = 0.25) -> s = 0.5: (200, 100, 100).
    expectClose(hsvJitterPixels(one([200, 150, 150]), 1, 1, { hue: 1, saturation: 2, value: 1 }), [200, 100, 100], 1e-4);
  });

  it('GluonCV jitter: b (c s x + c (1 - s) luma + (1 - c) mean luma)', () => {
    // Two pixels: (100, 50, 200) luma 0.299*100 + 0.587*50 + 0.114*200 = 82.05; (0, 0, 0) luma 0; mean 41.025.
    const src = one([100, 50, 200, 0, 0, 0]);
    const [b, c, s] = [1.1, 0.8, 0.6];
    const expected = [100, 50, 200, 0, 0, 0].map((x, i) => {
      const luma = i < 3 ? 82.05 : 0;
      return Math.min(255, b * (c * s * x + c * (1 - s) * luma + (1 - c) * 41.025));
    });
    expectClose(gluoncvJitterPixels(src, 1, 2, { brightness: b, contrast: c, saturation: s }), expected, 1e-4);
  });

  it('PCA lighting adds V (alpha ∘ lambda) to every pixel, unclipped', () => {
    const alpha = [0.1, -0.2, 0.05];
    const off = pcaLightingOffset(alpha);
    // By hand: offset_i = sum_j eigvec[i][j] * alpha_j * eigval_j.
    const ev = [55.46, 4.794, 1.148];
    const V = [
      [-0.5675, 0.7192, 0.4009],
      [-0.5808, -0.0045, -0.814],
      [-0.5836, -0.6948, 0.4203],
    ];
    const hand = [0, 1, 2].map((i) => V[i]![0]! * alpha[0]! * ev[0]! + V[i]![1]! * alpha[1]! * ev[1]! + V[i]![2]! * alpha[2]! * ev[2]!);
    expectClose(pcaLightingPixels(one([0, 128, 255]), 1, 1, off), [hand[0]!, 128 + hand[1]!, 255 + hand[2]!], 1e-4);
  });

  it('normalize: (x - mean) / std per channel', () => {
    const m = IMAGENET_MEAN;
    const s = IMAGENET_STD;
    const px = Float32Array.from([m[0]! + s[0]!, m[1]!, m[2]! - 2 * s[2]!]);
    expectClose(normalizePixels(px, 1, 1, m, s), [1, 0, -2], 1e-6);
    expectClose(normalizePixels(one([51]), 1, 1, [1], [2]), [25], 0);
  });

  it('flip is exact, for 1 and 3 channels', () => {
    const rgb = one([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]); // 2 rows x 2 columns
    expect(Array.from(flipPixels(rgb, 2, 2, 3))).toEqual([4, 5, 6, 1, 2, 3, 10, 11, 12, 7, 8, 9]);
    expect(Array.from(flipPixels(one([1, 2, 3, 4, 5, 6]), 2, 3, 1))).toEqual([3, 2, 1, 6, 5, 4]);
  });

  it('checks sizes, options and channel requirements', () => {
    const out = new Float32Array(3);
    expect(() => applyPixelDraw(one([1, 2]), 1, 1, { flip: false }, { channels: 3 }, out)).toThrow(/expected 1x1x3 = 3 pixel values, got 2/);
    expect(() => applyPixelDraw(one([1, 2, 3]), 1, 1, { flip: false }, { channels: 3 }, out, 1)).toThrow(/no room/);
    expect(() => applyPixelDraw(one([1]), 1, 1, { flip: false, hsv: [1, 1, 1] }, { channels: 1 }, out)).toThrow(/need 3 channels/);
    expect(() => pixelPipeline({ preset: 'greyscale', lighting: true })).toThrow(/need RGB/);
    expect(() => pixelPipeline({ size: 3 } as PixelPipelineOptions)).toThrow(/unknown option\(s\) size/);
    expect(() => pixelPipeline({ colorJitter: { form: 'hsv', contrast: 0.4 } })).toThrow(/HSV form has no contrast/);
  });
});
