#!/usr/bin/env node
// Throughput of the data package's training pipeline on JPEGs, decode included, beside
// torchvision's equivalent. Per core = images per CPU-second of this process (all threads).
//   npm run build && node packages/data/bench/pipeline.mjs [--images 200] [--repeats 2]
// Writes bench-results/pipeline.json at the repository root.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { createRng } from '@bag-of-tricks/core';
import { initBackend } from '@bag-of-tricks/backend';
import * as augment from '@bag-of-tricks/augment';
import { createLoader, imageFolderDataset } from '../dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const IMAGES = arg('images', 200);
const REPEATS = arg('repeats', 2);
const BATCH = arg('batch', 32);

for (const name of ['horizontalFlip', 'colorJitter', 'pcaLighting', 'normalize', 'compose', 'pixelPipeline']) {
  if (typeof augment[name] !== 'function') {
    console.error(`@bag-of-tricks/augment has no ${name}: build it first (npm run build).`);
    process.exit(1);
  }
}
sharp.concurrency(1); // one libvips thread per image: the per-core figure is per core
sharp.cache(false); // every image is read once: libvips' operation cache only costs bookkeeping
const loadBefore = loadavg();
const backend = await initBackend('auto', { log: () => {} });

// ~ImageNet-like JPEGs: 500x375, smooth structure plus noise, quality 90, in two class folders.
const root = mkdtempSync(join(tmpdir(), 'bench-jpegs-'));
const rng = createRng(2019);
let bytes = 0;
for (let i = 0; i < IMAGES; i++) {
  const dir = join(root, i % 2 ? 'b' : 'a');
  mkdirSync(dir, { recursive: true });
  const w = 500;
  const h = 375;
  const px = Buffer.alloc(w * h * 3);
  const f = [rng.uniform(0.005, 0.05), rng.uniform(0.005, 0.05), rng.uniform(0, 6)];
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++)
        px[(y * w + x) * 3 + c] = 128 + 80 * Math.sin(f[0] * x * (c + 1) + f[1] * y + f[2]) + 40 * (rng.uniform() - 0.5);
  const file = join(dir, `${i}.jpg`);
  const info = await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toFile(file);
  bytes += info.size;
}

async function measure(fn) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const n = await fn();
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  return { images: n, imgPerSec: n / wall, imgPerCpuSec: n / cpu, cpuPerWall: cpu / wall };
}

const train = imageFolderDataset(root, { size: 224, mode: 'train' });
const trainFlop = imageFolderDataset(root, { size: 224, mode: 'train', flip: true });
const node = {};
// 1. sharp alone: read + decode + RRC box + extract + resize to 224, one image at a time.
await train.get(0, createRng(0));
node['decode+rrc (sharp, sequential)'] = await measure(async () => {
  let n = 0;
  for (let r = 0; r < REPEATS; r++) for (let i = 0; i < train.size; i++) await train.get(i, createRng(r, i)), n++;
  return n;
});
// 2. The loader: prefetched sharp decode + RRC, then flip, HSV jitter, PCA lighting, normalize on tensors.
const { compose, horizontalFlip, colorJitter, pcaLighting, normalize, pixelPipeline } = augment;
// Each entry: a batch transform (tensor path), or [dataset, transform, pixelTransform].
const transforms = {
  'PIXEL PATH full paper: rrc(sharp)+flip+jitter(hsv)+lighting+normalize (loader)': [train, undefined, pixelPipeline({ preset: 'paper' })],
  'PIXEL PATH full gluoncv: rrc(sharp)+flip+jitter(b/c/s 0.4)+lighting+normalize': [train, undefined, pixelPipeline({ preset: 'gluoncv' })],
  'PIXEL PATH rrc(sharp)+flip+normalize (loader)': [train, undefined, pixelPipeline({ colorJitter: false, lighting: false })],
  'decode+rrc+flip, flip in sharp (loader)': [trainFlop, undefined],
  'decode+rrc+flip (loader)': compose(horizontalFlip()),
  'full, flip in sharp: rrc+flip+jitter(hsv)+lighting+normalize (loader)': [
    trainFlop,
    compose(colorJitter({ form: 'hsv', brightness: 0.4, saturation: 0.4, hue: 0.4 }), pcaLighting({ alphaStd: 0.1 }), normalize()),
  ],
  'full: rrc+flip+jitter(hsv)+lighting+normalize (loader)': compose(
    horizontalFlip(),
    colorJitter({ form: 'hsv', brightness: 0.4, saturation: 0.4, hue: 0.4 }),
    pcaLighting({ alphaStd: 0.1 }),
    normalize(),
  ),
  'full: rrc+flip+jitter(gluoncv b/c/s 0.4)+lighting+normalize (loader)': compose(
    horizontalFlip(),
    colorJitter({ form: 'gluoncv', brightness: 0.4, contrast: 0.4, saturation: 0.4 }),
    pcaLighting({ alphaStd: 0.1 }),
    normalize(),
  ),
};
for (const [name, spec] of Object.entries(transforms)) {
  const [dataset, transform, pixelTransform] = Array.isArray(spec) ? spec : [train, spec];
  const loader = createLoader(dataset, { batchSize: BATCH, seed: 1, ...(transform ? { transform } : {}), ...(pixelTransform ? { pixelTransform } : {}), prefetch: 2 });
  try {
    // Warm-up (kernels, caches) on a few batches.
    let k = 0;
    for await (const b of loader.epoch(99)) {
      tf.dispose([b.images, b.labels]);
      if (++k === 2) break;
    }
  } catch (err) {
    node[name] = { error: String(err.message ?? err) };
    console.error(`${name}: ${node[name].error}`);
    continue;
  }
  const t0 = performance.now();
  node[name] = await measure(async () => {
    let n = 0;
    for (let e = 0; e < REPEATS; e++) {
      for await (const b of loader.epoch(e)) {
        // wasm and cpu kernels run synchronously: the batch is finished when it is handed out.
        n += b.images.shape[0];
        tf.dispose([b.images, b.labels]);
      }
    }
    return n;
  });
  console.error(`${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

// torchvision, with Debian's python3 (a pyenv python3 first on PATH may lack torch).
let torchvision = { skipped: 'no python3 with torch found' };
for (const py of ['/usr/bin/python3', 'python3']) {
  if (py.startsWith('/') && !existsSync(py)) continue;
  const r = spawnSync(py, [join(here, 'torchvision_pipeline.py'), root, String(REPEATS)], { encoding: 'utf8' });
  if (r.status !== 0) continue;
  const parsed = JSON.parse(r.stdout.trim().split('\n').pop());
  if (!parsed.skipped) {
    torchvision = { python: py, ...parsed };
    break;
  }
  torchvision = parsed;
}
rmSync(root, { recursive: true, force: true });
const loadAfter = loadavg();

const fmt = (v) => v.toFixed(0).padStart(6);
console.log(`load average (1/5/15 min) before ${loadBefore.map((v) => v.toFixed(2)).join(' ')}, after ${loadAfter.map((v) => v.toFixed(2)).join(' ')}`);
console.log(`\nbag-of-tricks data pipeline: ${IMAGES} JPEGs 500x375 (avg ${(bytes / IMAGES / 1024).toFixed(0)} KiB), 224x224 out, batch ${BATCH}, tfjs ${backend}, ${cpus().length} cores`);
console.log('                                                                          img/s  img/CPU-s (per core)');
for (const [name, r] of Object.entries(node)) {
  console.log(r.error ? `  ${name.padEnd(72)} failed: ${r.error}` : `  ${name.padEnd(72)}${fmt(r.imgPerSec)}  ${fmt(r.imgPerCpuSec)}`);
}
const ratios = {};
if (torchvision.stages) {
  console.log(`torchvision ${torchvision.torchvision} (torch ${torchvision.torch}, 1 thread, PIL decode):`);
  for (const [name, r] of Object.entries(torchvision.stages)) console.log(`  ${name.padEnd(72)}${fmt(r.imgPerSec)}  ${fmt(r.imgPerCpuSec)}`);
  const pairs = [
    ['PIXEL PATH full paper: rrc(sharp)+flip+jitter(hsv)+lighting+normalize (loader)', 'full (rrc+flip+jitter+normalize)'],
    ['PIXEL PATH full gluoncv: rrc(sharp)+flip+jitter(b/c/s 0.4)+lighting+normalize', 'full (rrc+flip+jitter+normalize)'],
    ['PIXEL PATH rrc(sharp)+flip+normalize (loader)', 'decode+rrc+flip'],
    ['decode+rrc (sharp, sequential)', 'decode+rrc'],
    ['decode+rrc+flip, flip in sharp (loader)', 'decode+rrc+flip'],
    ['decode+rrc+flip (loader)', 'decode+rrc+flip'],
    ['full, flip in sharp: rrc+flip+jitter(hsv)+lighting+normalize (loader)', 'full (rrc+flip+jitter+normalize)'],
    ['full: rrc+flip+jitter(hsv)+lighting+normalize (loader)', 'full (rrc+flip+jitter+normalize)'],
    ['full: rrc+flip+jitter(gluoncv b/c/s 0.4)+lighting+normalize (loader)', 'full (rrc+flip+jitter+normalize)'],
  ];
  console.log('ratio ours / torchvision, per core (img per CPU-second):');
  for (const [ours, theirs] of pairs) {
    if (!node[ours]?.imgPerCpuSec) continue;
    const ratio = node[ours].imgPerCpuSec / torchvision.stages[theirs].imgPerCpuSec;
    ratios[`${ours} vs ${theirs}`] = ratio;
    console.log(`  ${ours.padEnd(72)}${ratio.toFixed(2).padStart(6)}x`);
  }
  console.log('  (ours also runs PCA lighting, which torchvision has no transform for)');
} else {
  console.log(`torchvision column skipped: ${torchvision.skipped}`);
}

const outDir = join(here, '..', '..', '..', 'bench-results');
mkdirSync(outDir, { recursive: true });
const result = {
  bench: 'data/pipeline',
  date: new Date().toISOString(),
  images: IMAGES,
  repeats: REPEATS,
  batch: BATCH,
  imageSize: [375, 500],
  avgJpegBytes: Math.round(bytes / IMAGES),
  backend,
  cores: cpus().length,
  loadavgBefore: loadBefore,
  loadavgAfter: loadAfter,
  node,
  torchvision,
  ratios,
};
writeFileSync(join(outDir, 'pipeline.json'), JSON.stringify(result, null, 2) + '\n');
console.log(`\nwrote ${join(outDir, 'pipeline.json')}`);
