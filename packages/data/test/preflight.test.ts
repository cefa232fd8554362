import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync, gzipSync } from 'node:zlib';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '@bag-of-tricks/core';
import {
  checkIdxSplits,
  checkImageFolder,
  checkImageFolders,
  createLoader,
  DatasetCheckError,
  DEFAULT_LIMIT_INPUT_PIXELS,
  encodeIdx,
  imageFolderDataset,
  ImageTooLargeError,
  loadFashionMnist,
  readIdxHeader,
} from '../src/index';

const root = mkdtempSync(join(tmpdir(), 'preflight-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const CLASSES = ['cat', 'dog', 'fox'];
let jpeg: Buffer; // a whole 64x48 JPEG
let png: Buffer;
let webp: Buffer;

/** A good folder: root/<name>/{train,val}/<class>/<i>.jpg|png|webp. */
function goodSet(name: string): { train: string; eval: string } {
  for (const split of ['train', 'val']) {
    for (const c of CLASSES) {
      const dir = join(root, name, split, c);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, '0.jpg'), jpeg);
      writeFileSync(join(dir, '1.png'), png);
      writeFileSync(join(dir, '2.webp'), webp);
    }
  }
  return { train: join(root, name, 'train'), eval: join(root, name, 'val') };
}

/** A PNG chunk: length, type, data, CRC-32 of type + data (RFC 2083). */
function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A valid all-black 1-bit greyscale PNG of width x height, built by hand: 16000² deflates to ~31 KB. */
function flatPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([1, 0, 0, 0, 0], 8); // bit depth 1, greyscale, deflate, filter 0, no interlace
  const rows = Buffer.alloc((Math.ceil(width / 8) + 1) * height); // filter byte 0 + zero bits per row
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

beforeAll(async () => {
  const pixels = Buffer.alloc(64 * 48 * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37) % 251;
  const raw = { raw: { width: 64, height: 48, channels: 3 as const } };
  jpeg = await sharp(pixels, raw).jpeg({ quality: 90 }).toBuffer();
  png = await sharp(pixels, raw).png().toBuffer();
  webp = await sharp(pixels, raw).webp({ lossless: true }).toBuffer();
  await tf.setBackend('cpu');
});

const check = (folders: { train: string; eval: string }, options = {}) => checkImageFolders(folders, options).catch((e: unknown) => e as Error);

describe('checkImageFolders (headers only)', () => {
  it('passes a good folder of JPEG, PNG and WebP and counts the images per class', async () => {
    const r = await checkImageFolders(goodSet('good'));
    expect(r.train.classNames).toEqual(CLASSES);
    expect(r.train.counts).toEqual([3, 3, 3]);
    expect(r.eval.counts).toEqual([3, 3, 3]);
    expect(r.train.corrupt).toEqual([]);
  });

  it('a renamed eval class folder is refused, naming both folders and the names only in each', async () => {
    const set = goodSet('renamed');
    renameSync(join(set.eval, 'fox'), join(set.eval, 'foxes'));
    const error = await check(set);
    expect(error).toBeInstanceOf(DatasetCheckError);
    expect((error as Error).message).toContain(`the class folders of train (${set.train}) and eval (${set.eval}) differ: only in train: 'fox'; only in eval: 'foxes'`);
    expect((error as Error).message).toContain('give both the same class folders');
  });

  it('an empty class folder (in train or in eval) is refused with its path', async () => {
    const set = goodSet('empty');
    rmSync(join(set.train, 'dog'), { recursive: true });
    mkdirSync(join(set.train, 'dog'));
    writeFileSync(join(set.train, 'dog', 'README.txt'), 'not an image');
    for (const f of ['0.jpg', '1.png', '2.webp']) rmSync(join(set.eval, 'cat', f));
    const message = ((await check(set)) as Error).message;
    expect(message).toContain(`train: empty class folder(s), no readable image: ${join(set.train, 'dog')};`);
    expect(message).toContain(`eval: empty class folder(s), no readable image: ${join(set.eval, 'cat')};`);
    expect((await check(set)) as DatasetCheckError).toHaveProperty('problems.length', 2);
  });

  it('corrupt files are all reported in one error with their paths and the fix; the list is capped', async () => {
    const set = goodSet('corrupt');
    const garbage = join(set.train, 'cat', 'garbage.jpg');
    const empty = join(set.train, 'dog', 'empty.png');
    writeFileSync(garbage, 'this is not a jpeg at all');
    writeFileSync(empty, '');
    for (let i = 0; i < 23; i++) writeFileSync(join(set.eval, 'fox', `bad-${String(i).padStart(2, '0')}.png`), `junk ${i}`);
    const error = (await check(set, { maxListed: 20 })) as DatasetCheckError;
    expect(error.problems).toHaveLength(2);
    expect(error.problems[0]).toMatch(new RegExp(`^train: 2 corrupt image\\(s\\): ${garbage} \\(.*\\); ${empty} \\(empty file \\(0 bytes\\)\\); re-export or delete`));
    expect(error.problems[0]).toContain('or set skipCorrupt: true');
    expect(error.problems[1]).toMatch(/^eval: 23 corrupt image\(s\): /);
    expect(error.problems[1]).toContain(join(set.eval, 'fox', 'bad-19.png'));
    expect(error.problems[1]).not.toContain('bad-20.png');
    expect(error.problems[1]).toContain('; and 3 more;');
  });

  it('truncated JPEG, PNG and WebP files are found from their last bytes, with the byte they end at', async () => {
    const set = goodSet('truncated');
    const cut = (bytes: Buffer) => bytes.subarray(0, Math.floor(bytes.length * 0.6));
    writeFileSync(join(set.eval, 'dog', 'cut.jpg'), cut(jpeg));
    writeFileSync(join(set.eval, 'dog', 'cut.png'), cut(png));
    writeFileSync(join(set.eval, 'dog', 'cut.webp'), cut(webp));
    const r = await checkImageFolder(set.eval);
    const reasons = Object.fromEntries(r.corrupt.map((p) => [p.file.slice(p.file.lastIndexOf('/') + 1), p.reason]));
    expect(reasons).toEqual({
      'cut.jpg': `truncated: the JPEG ends at byte ${cut(jpeg).length} without its end-of-image marker (FF D9)`,
      'cut.png': `truncated: the PNG ends at byte ${cut(png).length} without its IEND chunk`,
      'cut.webp': `truncated: the WebP header declares ${webp.length} bytes, the file has ${cut(webp).length}`,
    });
    expect(r.counts).toEqual([3, 3, 3]); // the cut files are not counted as images
  });

  it('a JPEG with bytes after its end marker (a camera trailer) decodes, so it is not reported', async () => {
    const set = goodSet('trailer');
    writeFileSync(join(set.train, 'cat', 'trailer.jpg'), Buffer.concat([jpeg, Buffer.alloc(500, 0x41)]));
    const r = await checkImageFolders(set);
    expect(r.train.counts).toEqual([4, 3, 3]);
  });

  it(`a 16000x16000 flat PNG (a few KB) is over the default limit (${DEFAULT_LIMIT_INPUT_PIXELS}) from its header alone`, async () => {
    const set = goodSet('huge');
    const huge = flatPng(16000, 16000);
    expect(huge.length).toBeLessThan(64 * 1024);
    const file = join(set.train, 'fox', 'huge.png');
    writeFileSync(file, huge);
    const error = (await check(set, { skipCorrupt: true })) as DatasetCheckError; // not skipped: it is not corrupt
    expect(error.problems).toEqual([
      `train: 1 image(s) too large: ${file} (16000x16000 = 256,000,000 pixels, over limitInputPixels (89,478,485)); ` +
        'downscale or remove the file(s), or raise limitInputPixels (a decode holds width x height x channels bytes)',
    ]);
    // Raising the limit lets it through the check.
    const r = await checkImageFolders(set, { limitInputPixels: 16000 * 16000 });
    expect(r.train.counts).toEqual([3, 3, 4]);
  });

  it('skipCorrupt returns the corrupt files instead of failing, and imageFolderDataset leaves them out', async () => {
    const set = goodSet('skip');
    const bad = [join(set.train, 'cat', 'x.jpg'), join(set.train, 'fox', 'y.jpg')];
    writeFileSync(bad[0]!, 'garbage');
    writeFileSync(bad[1]!, jpeg.subarray(0, 300));
    const r = await checkImageFolders(set, { skipCorrupt: true });
    expect(r.train.corrupt.map((p) => p.file)).toEqual(bad);
    expect(r.train.counts).toEqual([3, 3, 3]);
    const ds = imageFolderDataset(set.train, { size: 8, exclude: r.train.corrupt.map((p) => p.file) });
    expect(ds.size).toBe(9);
    expect(ds.files.filter((f) => bad.includes(f))).toEqual([]);
    expect(Array.from(ds.labels)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2]);
  });

  it('all of a class corrupt under skipCorrupt is an empty class, and says how many were corrupt', async () => {
    const set = goodSet('all-bad');
    for (const f of ['0.jpg', '1.png', '2.webp']) writeFileSync(join(set.train, 'dog', f), 'junk');
    const message = ((await check(set, { skipCorrupt: true })) as Error).message;
    expect(message).toContain(`train: empty class folder(s), no readable image: ${join(set.train, 'dog')} (3 corrupt);`);
  });
});

describe('the decode path shares the rules', () => {
  it('imageFolderDataset refuses an image over limitInputPixels before decoding it, even with skipCorrupt', async () => {
    const set = goodSet('decode-limit');
    const ds = imageFolderDataset(set.train, { size: 8, limitInputPixels: 64 * 48 - 1, skipCorrupt: true });
    const error = await Promise.resolve(ds.get(0, createRng(0))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageTooLargeError);
    expect((error as Error).message).toBe(
      `${ds.files[0]}: 64x48 = 3,072 pixels, over limitInputPixels (3,071); downscale or remove the file(s), or raise limitInputPixels (a decode holds width x height x channels bytes).`,
    );
    const ok = imageFolderDataset(set.train, { size: 8, limitInputPixels: 64 * 48 });
    expect((await ok.get(0, createRng(0))) as { pixels: Uint8Array }).toHaveProperty('pixels.length', 8 * 8 * 3);
  });

  it('a truncated JPEG on the eval path, decoded among others, names the file and the truncation (was "(Unknown error)")', async () => {
    const set = goodSet('decode-truncated');
    const file = join(set.eval, 'dog', 'cut.jpg');
    const cut = jpeg.subarray(0, Math.floor(jpeg.length / 2));
    writeFileSync(file, cut);
    for (let i = 0; i < 6; i++) cpSync(join(set.eval, 'dog', '0.jpg'), join(set.eval, 'dog', `copy${i}.jpg`));
    for (const resample of ['bilinear', 'lanczos3'] as const) {
      const ds = imageFolderDataset(set.eval, { mode: 'eval', size: 16, resample });
      const loader = createLoader(ds, { batchSize: ds.size, seed: 0, shuffle: false, concurrency: 4 });
      const error = await (async () => {
        for await (const b of loader.epoch(0)) tf.dispose([b.images, b.labels]);
      })().catch((e: unknown) => e as Error);
      expect((error as Error).message).toMatch(
        new RegExp(`^${file}: corrupt or unsupported image \\(truncated: the JPEG ends at byte ${cut.length} without its end-of-image marker \\(FF D9\\); sharp: .*\\); re-export or delete`),
      );
    }
  });
});

describe('IDX splits', () => {
  const images = (n: number, h: number, w: number) => encodeIdx({ dtype: 'uint8', dims: [n, h, w], data: new Uint8Array(n * h * w).fill(7) }, { gzip: true });
  const labels = (n: number) => encodeIdx({ dtype: 'uint8', dims: [n], data: new Uint8Array(n) });

  function idxDir(name: string, testH: number, testW: number): string {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), images(30, 28, 28));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), labels(30));
    writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), images(10, testH, testW));
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), labels(10));
    return dir;
  }

  it('readIdxHeader reads dims from a gzipped file without inflating the body', () => {
    const dir = idxDir('idx-header', 28, 28);
    const file = join(dir, 'train-images-idx3-ubyte.gz');
    expect(readIdxHeader(file)).toEqual({ dtype: 'uint8', dims: [30, 28, 28] });
    // Only the first 4 KiB are read: a file cut after them still gives its header.
    const cutFile = join(dir, 'cut.gz');
    writeFileSync(cutFile, gzipSync(Buffer.concat([Buffer.from([0, 0, 8, 3, 0, 0, 0, 9, 0, 0, 0, 28, 0, 0, 0, 28]), Buffer.alloc(9 * 784)])).subarray(0, 60));
    expect(readIdxHeader(cutFile).dims).toEqual([9, 28, 28]);
  });

  it('test images of 14x56 against train images of 28x28 (same byte count) are refused naming both files and shapes', () => {
    const dir = idxDir('idx-mismatch', 14, 56);
    const message = `IDX train and test images differ in size: ${join(dir, 'train-images-idx3-ubyte.gz')} holds 30 images of 28x28, ${join(dir, 't10k-images-idx3-ubyte.gz')} holds 10 of 14x56 (the same bytes per image, laid out differently)`;
    expect(() => checkIdxSplits(dir)).toThrow(message);
    expect(() => loadFashionMnist(dir)).toThrow(message);
    expect(checkIdxSplits(idxDir('idx-ok', 28, 28)).test.dims).toEqual([10, 28, 28]);
    // Another folder's test split is compared the same way.
    expect(() => checkIdxSplits(idxDir('idx-a', 28, 28), { testDir: idxDir('idx-b', 32, 32) })).toThrow(/holds 10 of 32x32; both splits/);
    expect(readFileSync(join(dir, 't10k-labels-idx1-ubyte')).length).toBe(8 + 10);
  });
});
