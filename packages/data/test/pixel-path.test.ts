import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '@bag-of-tricks/core';
import { compose, cropAndResizeBoxes, mixup, pixelPipeline, resizeShorterCenterCropBox, sampleRandomResizedCrop } from '@bag-of-tricks/augment';
import { readFileSync, writeFileSync } from 'node:fs';
import { createLoader, imageFolderDataset, imageHeaderSize, inMemoryDataset, isSkipped, resolveSample, type Dataset, type Sample } from '../src/index';

const root = mkdtempSync(join(tmpdir(), 'pixel-path-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function noise(h: number, w: number, seed: number): Buffer {
  const rng = createRng(seed);
  const px = Buffer.alloc(h * w * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) px[(y * w + x) * 3 + c] = 128 + 90 * Math.sin(0.07 * x * (c + 1) + 0.05 * y + seed) + 30 * (rng.uniform() - 0.5);
  return px;
}
const raw = (h: number, w: number) => ({ raw: { width: w, height: h, channels: 3 as const } });

beforeAll(async () => {
  for (let i = 0; i < 10; i++) {
    const dir = join(root, 'set', i % 2 ? 'b' : 'a');
    mkdirSync(dir, { recursive: true });
    const [h, w] = [40 + 3 * i, 60 - 2 * i];
    await sharp(noise(h, w, i), raw(h, w)).jpeg({ quality: 90 }).toFile(join(dir, `${i}.jpg`));
  }
  await tf.setBackend('cpu');
});

async function collect(loader: ReturnType<typeof createLoader>, epoch: number): Promise<{ images: Float32Array; labels: Float32Array; shape: number[] }[]> {
  const out = [];
  for await (const b of loader.epoch(epoch)) {
    out.push({ images: b.images.dataSync().slice() as Float32Array, labels: b.labels.dataSync().slice() as Float32Array, shape: b.images.shape });
    tf.dispose([b.images, b.labels]);
  }
  return out;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe('loader pixelTransform (per-image fused path)', () => {
  for (const preset of ['paper', 'gluoncv'] as const) {
    it(`${preset}: equals the tensor transforms on the same draws, with mixup after, over two epochs`, async () => {
      const ds = imageFolderDataset(join(root, 'set'), { size: 24, mode: 'train' });
      const pipe = pixelPipeline({ preset });
      const tensorLoader = createLoader(ds, { batchSize: 4, seed: 7, transform: compose(pipe.tensorTransform, mixup({ alpha: 0.2 })) });
      const pixelLoader = createLoader(ds, { batchSize: 4, seed: 7, pixelTransform: pipe, transform: mixup({ alpha: 0.2 }) });
      for (const epoch of [0, 1]) {
        const a = await collect(tensorLoader, epoch);
        const b = await collect(pixelLoader, epoch);
        expect(b.map((x) => x.shape)).toEqual(a.map((x) => x.shape));
        a.forEach((batch, k) => {
          expect(maxDiff(b[k]!.images, batch.images)).toBeLessThan(2e-4);
          expect(maxDiff(b[k]!.labels, batch.labels)).toBeLessThan(1e-7);
        });
      }
    });
  }

  it('is a pure function of (seed, epoch): bit for bit across runs and prefetch depths', async () => {
    const ds = imageFolderDataset(join(root, 'set'), { size: 16, mode: 'train' });
    const pipe = pixelPipeline({ preset: 'paper' });
    const a = await collect(createLoader(ds, { batchSize: 3, seed: 3, pixelTransform: pipe, prefetch: 0 }), 2);
    const b = await collect(createLoader(ds, { batchSize: 3, seed: 3, pixelTransform: pipe, prefetch: 4 }), 2);
    const c = await collect(createLoader(ds, { batchSize: 3, seed: 4, pixelTransform: pipe }), 2);
    expect(b.map((x) => Array.from(x.images))).toEqual(a.map((x) => Array.from(x.images)));
    expect(maxDiff(c[0]!.images, a[0]!.images)).toBeGreaterThan(0.1);
  });

  it('works on in-memory greyscale data and refuses a channel mismatch', async () => {
    const images = new Uint8Array(6 * 4 * 5).map((_, i) => (i * 37) % 256);
    const ds = inMemoryDataset({ images, labels: Uint8Array.from([0, 1, 2, 0, 1, 2]), height: 4, width: 5, channels: 1 });
    const grey = pixelPipeline({ preset: 'greyscale' });
    const a = await collect(createLoader(ds, { batchSize: 6, seed: 1, shuffle: false, transform: grey.tensorTransform }), 0);
    const b = await collect(createLoader(ds, { batchSize: 6, seed: 1, shuffle: false, pixelTransform: grey }), 0);
    expect(maxDiff(b[0]!.images, a[0]!.images)).toBeLessThan(1e-5);
    expect(() => createLoader(ds, { batchSize: 2, seed: 1, pixelTransform: pixelPipeline() })).toThrow(/pixelTransform is for 3 channel\(s\), the dataset has 1/);
  });
});

/**
 * The reference for resample: 'bilinear': sharp decodes the WHOLE image, and the crop is augment's
 * tensor cropAndResizeBoxes on it, with the box (and flip) drawn from the sample's rng as the image
 * folder draws them.
 */
function tensorReference(files: readonly string[], labels: Int32Array, size: number, mode: 'train' | 'eval' | 'full', flip = false): Dataset {
  return {
    size: files.length,
    numClasses: 2,
    height: size,
    width: size,
    channels: 3,
    async get(index, rng): Promise<Sample> {
      const { data, info } = await sharp(readFileSync(files[index]!)).raw().toBuffer({ resolveWithObject: true });
      const [h, w] = [info.height, info.width];
      const box =
        mode === 'train' ? sampleRandomResizedCrop(rng, h, w) : mode === 'eval' ? resizeShorterCenterCropBox(h, w, { resize: Math.round(size / 0.875), crop: size }) : { y: 0, x: 0, height: h, width: w };
      const mirror = flip && rng.bernoulli(0.5);
      const pixels = tf.tidy(() => {
        let t = cropAndResizeBoxes(tf.tensor4d(Float32Array.from(data), [1, h, w, 3]), [box], size);
        if (mirror) t = tf.reverse(t, 2);
        return t.dataSync() as Float32Array;
      });
      return { pixels, label: labels[index]! };
    },
  };
}

describe("imageFolderDataset resample: 'bilinear' (region decode, resize fused into the loader's pass)", () => {
  it('equals sharp full decode + the tensor cropAndResizeBoxes, then the tensor transforms, with mixup after', async () => {
    const ds = imageFolderDataset(join(root, 'set'), { size: 24, mode: 'train', resample: 'bilinear' });
    const ref = tensorReference(ds.files, ds.labels, 24, 'train');
    for (const preset of ['paper', 'gluoncv'] as const) {
      const pipe = pixelPipeline({ preset });
      const a = await collect(createLoader(ref, { batchSize: 4, seed: 7, transform: compose(pipe.tensorTransform, mixup({ alpha: 0.2 })) }), 1);
      const b = await collect(createLoader(ds, { batchSize: 4, seed: 7, pixelTransform: pipe, transform: mixup({ alpha: 0.2 }) }), 1);
      expect(b.map((x) => x.shape)).toEqual(a.map((x) => x.shape));
      a.forEach((batch, k) => {
        expect(maxDiff(b[k]!.images, batch.images)).toBeLessThan(2e-4);
        expect(maxDiff(b[k]!.labels, batch.labels)).toBeLessThan(1e-7);
      });
    }
  });

  it('without a pixelTransform the loader resizes (0-255 floats); train with flip, eval and full modes too', async () => {
    for (const [mode, flip] of [['train', true], ['eval', false], ['full', false]] as const) {
      const ds = imageFolderDataset(join(root, 'set'), { size: 16, mode, flip, resample: 'bilinear' });
      const ref = tensorReference(ds.files, ds.labels, 16, mode, flip);
      const a = await collect(createLoader(ref, { batchSize: 5, seed: 2 }), 0);
      const b = await collect(createLoader(ds, { batchSize: 5, seed: 2 }), 0);
      a.forEach((batch, k) => expect(maxDiff(b[k]!.images, batch.images)).toBeLessThan(2e-3));
    }
  });

  it('get returns the region and its crop; resolveSample resizes it as the loader does', async () => {
    const ds = imageFolderDataset(join(root, 'set'), { size: 16, mode: 'train', resample: 'bilinear' });
    const ref = tensorReference(ds.files, ds.labels, 16, 'train');
    const s = (await ds.get(3, createRng(5))) as Sample;
    expect(isSkipped(s)).toBe(false);
    const crop = s.crop!;
    expect(s.pixels.length).toBe(crop.height * crop.width * 3);
    // One pixel of margin around the box where the image has one.
    expect(crop.box.y).toBeLessThanOrEqual(1);
    expect(crop.box.x).toBeLessThanOrEqual(1);
    expect(crop.height - crop.box.y - crop.box.height).toBeLessThanOrEqual(1);
    const expected = ((await ref.get(3, createRng(5))) as Sample).pixels;
    expect(maxDiff(resolveSample(s, ds) as Float32Array, expected as Float32Array)).toBeLessThan(2e-3);
  });

  it('a truncated JPEG or a non-image still gives the error naming the file', async () => {
    const dir = join(root, 'bad-bilinear');
    for (const c of ['a', 'b']) mkdirSync(join(dir, c), { recursive: true });
    const jpeg = await sharp(noise(64, 64, 1), raw(64, 64)).jpeg().toBuffer();
    writeFileSync(join(dir, 'a', 'truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    writeFileSync(join(dir, 'b', 'garbage.jpg'), Buffer.from('this is not a jpeg'));
    const ds = imageFolderDataset(dir, { size: 16, mode: 'full', resample: 'bilinear' });
    await expect(ds.get(0, createRng(1))).rejects.toThrow(/truncated\.jpg: corrupt or unsupported image/);
    await expect(ds.get(1, createRng(1))).rejects.toThrow(/garbage\.jpg: corrupt or unsupported image/);
    expect(() => imageFolderDataset(dir, { resample: 'cubic' as 'bilinear' })).toThrow(/resample must be 'lanczos3' or 'bilinear', got "cubic"/);
  });

  it('leaks no tensors across an epoch', async () => {
    const ds = imageFolderDataset(join(root, 'set'), { size: 16, mode: 'train', resample: 'bilinear' });
    const loader = createLoader(ds, { batchSize: 4, seed: 1, pixelTransform: pixelPipeline() });
    await collect(loader, 0);
    const before = tf.memory().numTensors;
    await collect(loader, 1);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('imageHeaderSize', () => {
  it("reads JPEG (baseline, progressive, with EXIF) and PNG sizes as sharp's metadata does; null otherwise", async () => {
    const px = noise(37, 53, 1);
    const inputs = [
      await sharp(px, raw(37, 53)).jpeg().toBuffer(),
      await sharp(px, raw(37, 53)).jpeg({ progressive: true, chromaSubsampling: '4:4:4' }).toBuffer(),
      await sharp(px, raw(37, 53)).withMetadata({ orientation: 6 }).jpeg().toBuffer(),
      await sharp(px, raw(37, 53)).png().toBuffer(),
    ];
    for (const bytes of inputs) {
      const meta = await sharp(bytes).metadata();
      expect(imageHeaderSize(bytes)).toEqual({ width: meta.width, height: meta.height });
    }
    expect(imageHeaderSize(await sharp(px, raw(37, 53)).webp().toBuffer())).toBeNull();
    expect(imageHeaderSize(Buffer.from('this is not a jpeg'))).toBeNull();
    expect(imageHeaderSize(Uint8Array.from([0xff, 0xd8, 0xff]))).toBeNull();
  });
});
