#!/usr/bin/env node
// Regenerates assets/fashion-mnist-subset/: a balanced Fashion-MNIST subset, 600 train and 100
// test images per class, chosen by a seeded shuffle of each class's indices.
//   npm run build -w packages/data && node packages/data/scripts/make-subset.mjs [sourceDir] [seed]
// sourceDir defaults to Debian's /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist).
// The output is byte-for-byte reproducible from (source files, seed).
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng } from '@bag-of-tricks/core';
import { encodeIdx, loadIdxDataset } from '../dist/index.js';

const sourceDir = process.argv[2] ?? '/usr/share/datasets/fashion-mnist';
const seed = Number(process.argv[3] ?? 20190101);
const outDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'assets', 'fashion-mnist-subset');
const PER_CLASS = { train: 600, test: 100 };
const PREFIX = { train: 'train', test: 't10k' };

mkdirSync(outDir, { recursive: true });
const manifest = { source: 'Fashion-MNIST (Zalando Research), MIT licence', sourceDir, seed, perClass: PER_CLASS, splits: {} };

for (const [splitIndex, split] of ['train', 'test'].entries()) {
  const ds = loadIdxDataset(sourceDir, split);
  const rng = createRng(seed, splitIndex);
  const chosen = [];
  for (let c = 0; c < ds.numClasses; c++) {
    const ofClass = [];
    for (let i = 0; i < ds.size; i++) if (ds.labels[i] === c) ofClass.push(i);
    if (ofClass.length < PER_CLASS[split]) throw new Error(`${split}: class ${c} has only ${ofClass.length} images`);
    chosen.push(...rng.shuffle(ofClass).slice(0, PER_CLASS[split]));
  }
  // Source order keeps the classes interleaved as in the original files.
  chosen.sort((a, b) => a - b);
  const pixels = ds.height * ds.width;
  const images = new Uint8Array(chosen.length * pixels);
  const labels = new Uint8Array(chosen.length);
  chosen.forEach((src, i) => {
    images.set(ds.images.subarray(src * pixels, (src + 1) * pixels), i * pixels);
    labels[i] = ds.labels[src];
  });
  const files = {
    [`${PREFIX[split]}-images-idx3-ubyte.gz`]: encodeIdx({ dtype: 'uint8', dims: [chosen.length, ds.height, ds.width], data: images }, { gzip: true }),
    [`${PREFIX[split]}-labels-idx1-ubyte.gz`]: encodeIdx({ dtype: 'uint8', dims: [chosen.length], data: labels }, { gzip: true }),
  };
  const sha256 = {};
  for (const [name, bytes] of Object.entries(files)) {
    writeFileSync(join(outDir, name), bytes);
    sha256[name] = createHash('sha256').update(bytes).digest('hex');
  }
  manifest.splits[split] = { count: chosen.length, sha256, sourceIndices: chosen };
  console.log(`${split}: ${chosen.length} images (${PER_CLASS[split]} per class) -> ${outDir}`);
}
writeFileSync(join(outDir, 'manifest.json'), JSON.stringify(manifest) + '\n');
