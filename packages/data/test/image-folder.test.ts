import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '@bag-of-tricks/core';
import { IMAGENET_SIZE, PRESETS, sampleRandomResizedCrop } from '@bag-of-tricks/augment';
import { createLoader, IMAGE_FOLDER_DEFAULTS, imageFolderDataset, isSkipped, type EpochStats, type Sample } from '../src/index';

const root = mkdtempSync(join(tmpdir(), 'image-folder-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** An h x w RGB image: columns [x0, x1) in `inner`, the rest in `outer`. */
function stripes(h: number, w: number, outer: number[], inner: number[], x0: number, x1: number): Buffer {
  const buf = Buffer.alloc(h * w * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) buf.set(x >= x0 && x < x1 ? inner : outer, (y * w + x) * 3);
  return buf;
}
const solid = (h: number, w: number, c: number[]): Buffer => stripes(h, w, c, c, 0, 0);
const raw = (h: number, w: number) => ({ raw: { width: w, height: h, channels: 3 as const } });

const RED = [255, 0, 0];
const GREEN = [0, 200, 0];
const JPEG_COLOUR = [200, 50, 30];
const GREY = [100, 100, 100];

beforeAll(async () => {
  // Class folders deliberately created out of order: indices follow sorted names.
  for (const c of ['zeta', 'alpha', 'mid']) mkdirSync(join(root, 'set', c), { recursive: true });
  await sharp(solid(12, 16, RED), raw(12, 16)).png().toFile(join(root, 'set', 'alpha', 'red.png'));
  await sharp(solid(30, 40, JPEG_COLOUR), raw(30, 40)).jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toFile(join(root, 'set', 'mid', 'a.jpg'));
  // 10 high, 20 wide: green in the centre 10 columns, red outside.
  await sharp(stripes(10, 20, RED, GREEN, 5, 15), raw(10, 20)).webp({ lossless: true }).toFile(join(root, 'set', 'zeta', 'centre.webp'));
  await sharp(solid(9, 9, GREY), raw(9, 9)).png().toFile(join(root, 'set', 'zeta', 'grey.PNG'));
  writeFileSync(join(root, 'set', 'zeta', 'notes.txt'), 'not an image');

  // A set with a truncated JPEG and a file that is not an image at all.
  for (const c of ['a', 'b']) mkdirSync(join(root, 'bad', c), { recursive: true });
  const jpeg = await sharp(stripes(64, 64, RED, GREEN, 10, 30), raw(64, 64)).jpeg().toBuffer();
  writeFileSync(join(root, 'bad', 'a', 'good.jpg'), jpeg);
  writeFileSync(join(root, 'bad', 'a', 'truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  writeFileSync(join(root, 'bad', 'b', 'garbage.jpg'), Buffer.from('this is not a jpeg'));
  await sharp(solid(8, 8, GREEN), raw(8, 8)).png().toFile(join(root, 'bad', 'b', 'ok.png'));
  await tf.setBackend('cpu');
});

const pixelsOf = (s: Sample | { skipped: true }): Uint8Array => {
  if (isSkipped(s as Sample)) throw new Error('unexpected skip');
  return (s as Sample).pixels as Uint8Array;
};

function expectAll(pixels: Uint8Array, colour: number[], tol = 0): void {
  const c = colour.length;
  for (let i = 0; i < pixels.length; i++) {
    const d = Math.abs((pixels[i] as number) - (colour[i % c] as number));
    if (d > tol) throw new Error(`pixel value ${i} is ${pixels[i]}, expected ${colour[i % c]} ± ${tol}`);
  }
}

describe('imageFolderDataset', () => {
  it('maps sorted subfolders to class indices and lists only images', () => {
    const ds = imageFolderDataset(join(root, 'set'), { size: 8 });
    expect(ds.classNames).toEqual(['alpha', 'mid', 'zeta']);
    expect(ds.files.map((f) => f.slice(join(root, 'set').length + 1))).toEqual(['alpha/red.png', 'mid/a.jpg', 'zeta/centre.webp', 'zeta/grey.PNG']);
    expect(Array.from(ds.labels)).toEqual([0, 1, 2, 2]);
    expect([ds.size, ds.numClasses, ds.height, ds.width, ds.channels]).toEqual([4, 3, 8, 8, 3]);
  });

  it("defaults to augment's ImageNet size (one constant, not a re-typed 224)", () => {
    expect(IMAGE_FOLDER_DEFAULTS.size).toBe(IMAGENET_SIZE);
    expect(IMAGE_FOLDER_DEFAULTS.size).toBe(PRESETS.paper.size);
    const ds = imageFolderDataset(join(root, 'set'));
    expect([ds.height, ds.width]).toEqual([IMAGENET_SIZE, IMAGENET_SIZE]);
  });

  it('decodes PNG and lossless WebP exactly, JPEG within its loss, greyscale to RGB and to one channel', async () => {
    const ds = imageFolderDataset(join(root, 'set'), { size: 8, mode: 'full' });
    const rng = createRng(0);
    expectAll(pixelsOf(await ds.get(0, rng)), RED);
    expectAll(pixelsOf(await ds.get(1, rng)), JPEG_COLOUR, 3);
    expectAll(pixelsOf(await ds.get(3, rng)), GREY);
    expect(pixelsOf(await ds.get(0, rng)).length).toBe(8 * 8 * 3);
    const grey = imageFolderDataset(join(root, 'set'), { size: 8, mode: 'full', greyscale: true });
    const g = pixelsOf(await grey.get(3, rng));
    expect(g.length).toBe(64);
    expectAll(g, [100]);
  });

  it('eval mode: resize-shorter + centre crop keeps exactly the centre square', async () => {
    // 10x20 image, resize 8 / crop 8: the centre 10x10 box of the source, all green.
    const ds = imageFolderDataset(join(root, 'set'), { size: 8, resize: 8, mode: 'eval' });
    expectAll(pixelsOf(await ds.get(2, createRng(1))), GREEN);
    // resize 16 / crop 8: the centre 5x5 of the source, still inside the green stripe.
    const wider = imageFolderDataset(join(root, 'set'), { size: 8, resize: 16, mode: 'eval' });
    expectAll(pixelsOf(await wider.get(2, createRng(1))), GREEN);
  });

  it('train mode: the RRC box is sampled on the real size and cut with sharp (same seed, same pixels)', async () => {
    const ds = imageFolderDataset(join(root, 'set'), { size: 8 });
    const file = join(root, 'set', 'zeta', 'centre.webp');
    for (const seed of [1, 2, 3]) {
      const box = sampleRandomResizedCrop(createRng(seed), 10, 20);
      const expected = await sharp(readFileSync(file))
        .extract({ left: box.x, top: box.y, width: box.width, height: box.height })
        .resize(8, 8, { fit: 'fill' })
        .raw()
        .toBuffer();
      const got = pixelsOf(await ds.get(2, createRng(seed)));
      expect(Buffer.from(got).equals(expected)).toBe(true);
      expect(Buffer.from(pixelsOf(await ds.get(2, createRng(seed)))).equals(Buffer.from(got))).toBe(true);
    }
  });

  it('train mode with flip: sharp mirrors the crop with p = 0.5, drawn after the box', async () => {
    const ds = imageFolderDataset(join(root, 'set'), { size: 8, flip: true });
    const file = join(root, 'set', 'zeta', 'centre.webp');
    let flipped = 0;
    for (let seed = 0; seed < 40; seed++) {
      const rng = createRng(seed);
      const box = sampleRandomResizedCrop(rng, 10, 20);
      const flop = rng.bernoulli(0.5);
      flipped += flop ? 1 : 0;
      let ref = sharp(readFileSync(file)).extract({ left: box.x, top: box.y, width: box.width, height: box.height });
      if (flop) ref = ref.flop();
      const expected = await ref.resize(8, 8, { fit: 'fill' }).raw().toBuffer();
      expect(Buffer.from(pixelsOf(await ds.get(2, createRng(seed)))).equals(expected)).toBe(true);
    }
    expect(flipped).toBeGreaterThan(5);
    expect(flipped).toBeLessThan(35);
  });

  it('a truncated JPEG or a non-image gives an error naming the file and the problem', async () => {
    const ds = imageFolderDataset(join(root, 'bad'), { size: 16 });
    const truncated = join(root, 'bad', 'a', 'truncated.jpg');
    const garbage = join(root, 'bad', 'b', 'garbage.jpg');
    expect(ds.files).toContain(truncated);
    const error = await ds.get(ds.files.indexOf(truncated), createRng(0)).catch((e: Error) => e);
    expect((error as Error).message).toMatch(new RegExp(`^${truncated}: corrupt or unsupported image \\(.*premature end of JPEG image`));
    await expect(ds.get(ds.files.indexOf(garbage), createRng(0))).rejects.toThrow(`${garbage}: corrupt or unsupported image (Input buffer contains unsupported image format`);
    // Through the loader the error surfaces too.
    const loader = createLoader(ds, { batchSize: 2, seed: 0 });
    await expect(async () => {
      for await (const b of loader.epoch(0)) tf.dispose(b as unknown as tf.TensorContainer);
    }).rejects.toThrow('corrupt or unsupported image');
  });

  it('skipCorrupt: skipped files are counted and reported at the end of the epoch', async () => {
    const ds = imageFolderDataset(join(root, 'bad'), { size: 16, skipCorrupt: true });
    const reports: EpochStats[] = [];
    const loader = createLoader(ds, { batchSize: 3, seed: 5, onEpochEnd: (s) => reports.push(s) });
    const before = tf.memory().numTensors;
    let images = 0;
    for await (const b of loader.epoch(0)) {
      images += b.images.shape[0];
      expect(b.images.shape.slice(1)).toEqual([16, 16, 3]);
      tf.dispose([b.images, b.labels]);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(images).toBe(2);
    expect(reports).toHaveLength(1);
    expect(loader.stats).toBe(reports[0]);
    expect(reports[0]!.samples).toBe(2);
    expect(reports[0]!.skipped.map((s) => s.file).sort()).toEqual([join(root, 'bad', 'a', 'truncated.jpg'), join(root, 'bad', 'b', 'garbage.jpg')]);
    expect(reports[0]!.skipped.find((s) => s.file.endsWith('truncated.jpg'))!.reason).toContain('premature end of JPEG image');
  });
});
