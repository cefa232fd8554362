import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '@bag-of-tricks/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, train } from '../src';
import { quiet, tempOut, tinyConfig } from './helpers';

/** Writes an MNIST-layout test split (t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte) of `labels.length` images. */
function writeIdxTestSplit(dir: string, labels: readonly number[]): void {
  mkdirSync(dir, { recursive: true });
  const n = labels.length;
  const images = Buffer.alloc(16 + n * 28 * 28);
  images.writeUInt32BE(0x00000803, 0);
  images.writeUInt32BE(n, 4);
  images.writeUInt32BE(28, 8);
  images.writeUInt32BE(28, 12);
  // A bright square per image, at a different place in each: not a copy of any training image.
  for (let i = 0; i < n; i++) for (let y = 4 + i; y < 12 + i; y++) for (let x = 6; x < 20; x++) images[16 + i * 784 + y * 28 + x] = 200;
  const labelBytes = Buffer.alloc(8 + n);
  labelBytes.writeUInt32BE(0x00000801, 0);
  labelBytes.writeUInt32BE(n, 4);
  labels.forEach((l, i) => (labelBytes[8 + i] = l));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), images);
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), labelBytes);
}

describe("data: { source: 'embedded', eval: { source: 'idx', dir } }", () => {
  beforeAll(async () => {
    await initBackend('wasm', { log: () => {} });
  });

  it('parses, and refuses an eval source other than idx or an unknown field, naming the field', () => {
    const c = parseConfig({ model: { name: 'resnet20' }, epochs: 1, data: { source: 'embedded', eval: { source: 'idx', dir: '/x' } } });
    expect(c.data).toEqual({ source: 'embedded', eval: { source: 'idx', dir: '/x' } });
    expect(parseConfig({ model: { name: 'resnet20' }, epochs: 1 }).data).toEqual({ source: 'embedded' });
    const bad = (data: unknown) => () => parseConfig({ model: { name: 'resnet20' }, epochs: 1, data });
    expect(bad({ source: 'embedded', eval: { source: 'image-folder', dir: '/x' } })).toThrow(/data\.eval\.source: got "image-folder"; allowed: "idx"/);
    expect(bad({ source: 'embedded', eval: { source: 'idx' } })).toThrow(/data\.eval\.dir: expected string \(required, missing\)/);
    expect(bad({ source: 'embedded', eval: { source: 'idx', dir: '/x', split: 'test' } })).toThrow(ConfigError);
  });

  it('a missing eval folder fails before training, naming data.eval.dir', async () => {
    const dir = join(tempOut('missing'), 'nowhere');
    await expect(train(tinyConfig({ data: { source: 'embedded', eval: { source: 'idx', dir } }, epochs: 1 }), quiet)).rejects.toThrow(
      `data.eval.dir: folder not found: ${dir}`,
    );
  });

  it('trains on the embedded 6,000 images and evaluates on the given IDX test split', async () => {
    // 7 test images: every accuracy on them is a multiple of 1/7, which no accuracy on the embedded 1,000 is
    // (except 0 and 1; the run below is far from both on the embedded set).
    const dir = join(tempOut('idx'), 'fmnist');
    writeIdxTestSplit(dir, [0, 1, 2, 3, 4, 5, 6]);
    const result = await train(tinyConfig({ data: { source: 'embedded', eval: { source: 'idx', dir } }, epochs: 1, batchSize: 250, baseLr: 0.4 }), { ...quiet, report: false });
    result.model.dispose();
    expect(result.steps).toBe(Math.floor(6000 / 250)); // the training set is the embedded 6,000 images
    for (const acc of [result.top1, result.top5]) {
      expect(Math.abs(acc * 7 - Math.round(acc * 7))).toBeLessThan(1e-9);
    }
    expect(result.history.epochs).toHaveLength(1);
    expect(Number.isFinite(result.history.epochs[0]!.evalLoss)).toBe(true);
  });
});
