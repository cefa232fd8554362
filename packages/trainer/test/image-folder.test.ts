import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { createRng } from '@bag-of-tricks/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { train } from '../src';
import { quiet, tempOut, tinyConfig } from './helpers';

/**
 * Two classes of real JPEGs, told apart by colour: class 'red' is reddish noise, class 'blue' bluish,
 * at assorted sizes and aspect ratios (so the random-resized crop, the flip and the resize all work).
 */
let root: string;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'bot-jpegs-'));
  const rng = createRng(11);
  for (const split of ['train', 'val']) {
    for (const [cls, tint] of [['red', [200, 60, 50]], ['blue', [40, 70, 210]]] as const) {
      const dir = join(root, split, cls);
      mkdirSync(dir, { recursive: true });
      const count = split === 'train' ? 24 : 8;
      for (let i = 0; i < count; i++) {
        const width = 40 + rng.int(0, 30);
        const height = 36 + rng.int(0, 30);
        const pixels = Buffer.alloc(width * height * 3);
        for (let p = 0; p < width * height; p++) {
          for (let c = 0; c < 3; c++) pixels[p * 3 + c] = Math.max(0, Math.min(255, Math.round(tint[c]! + 40 * rng.normal())));
        }
        await sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toFile(join(dir, `${i}.jpg`));
      }
    }
  }
});

describe('train() on an image folder of JPEGs (wasm, end to end)', () => {
  for (const resample of ['bilinear', 'lanczos3'] as const) {
    it(`${resample}: decodes, crops, augments per image in the loader, learns the colours and leaks nothing`, async () => {
      const before = tf.memory().numTensors;
      const beforeBuffers = tf.memory().numDataBuffers;
      const result = await train(
        tinyConfig({
          data: { source: 'image-folder', dir: join(root, 'train'), evalDir: join(root, 'val'), size: 24, resample },
          augment: { scale: [0.3, 1], colorJitter: { brightness: 0.2, saturation: 0.2, hue: 0.1 } },
          epochs: 3,
          batchSize: 8,
          baseLr: 0.2,
          out: tempOut(`folder-${resample}`),
        }),
        quiet,
      );
      expect(result.steps).toBe(3 * Math.floor(48 / 8));
      expect(result.top1).toBeGreaterThanOrEqual(0.9); // chance is 0.5; the classes differ by colour
      result.model.dispose();
      // no slack: every tensor train() made is freed once the caller disposes the model it returned
      expect(tf.memory().numTensors).toBe(before);
      expect(tf.memory().numDataBuffers).toBe(beforeBuffers);
    });
  }

  it('refuses augment options that do not apply to image folders, naming the allowed ones', async () => {
    await expect(
      train(tinyConfig({ data: { source: 'image-folder', dir: join(root, 'train'), evalDir: join(root, 'val'), size: 24 }, augment: { size: 32 }, out: tempOut('bad') }), quiet),
    ).rejects.toThrow(/augment: size cannot be used with data.source 'image-folder'.*allowed: scale, ratio, preset/);
  });
});
