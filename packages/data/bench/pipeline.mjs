#!/usr/bin/env node
// Throughput of the data package's training pipeline on JPEGs, decode included, beside
// torchvision's equivalent (torchvision_pipeline.py says how its stages match ours). Per core =
// images per CPU-second of this process (all threads: main, libuv, libvips). The headline is the
// paper's pipeline through the loader, measured before and after torchvision (A, B, A) and averaged.
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

for (const name of ['pixelPipeline', 'applyPixelDrawResized']) {
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
const trainBilinear = imageFolderDataset(root, { size: 224, mode: 'train', resample: 'bilinear' });
const { pixelPipeline } = augment;
const paper = pixelPipeline({ preset: 'paper' });
const gluoncv = pixelPipeline({ preset: 'gluoncv' });
const node = {};

async function loaderRow(dataset, options, repeats = REPEATS) {
  const loader = createLoader(dataset, { batchSize: BATCH, seed: 1, prefetch: 2, ...options });
  let k = 0;
  for await (const b of loader.epoch(99)) {
    // Warm-up (JIT, caches) on a few batches.
    tf.dispose([b.images, b.labels]);
    if (++k === 2) break;
  }
  return measure(async () => {
    let n = 0;
    for (let e = 0; e < repeats; e++) {
      for await (const b of loader.epoch(e)) {
        // wasm and cpu kernels run synchronously: the batch is finished when it is handed out.
        n += b.images.shape[0];
        tf.dispose([b.images, b.labels]);
      }
    }
    return n;
  });
}

// The headline: the paper's train pipeline through the loader, decode included, in both resamplings.
const HEAD_DEFAULT = 'paper: decode+rrc(sharp lanczos3, default)+flip+jitter(hsv)+lighting+normalize (loader)';
const HEAD_BILINEAR = "paper: decode(sharp)+rrc(bilinear, resample: 'bilinear')+flip+jitter(hsv)+lighting+normalize (loader)";
const HEAD_REPEATS = Math.max(REPEATS, 3); // a little longer than the other rows: the headline carries the claim
const headline = async (tag) => {
  const a = await loaderRow(train, { pixelTransform: paper }, HEAD_REPEATS);
  const b = await loaderRow(trainBilinear, { pixelTransform: paper }, HEAD_REPEATS);
  console.error(`${tag}: default ${a.imgPerCpuSec.toFixed(0)}, bilinear ${b.imgPerCpuSec.toFixed(0)} img/CPU-s`);
  return [a, b];
};
const before = await headline('paper pipeline, before torchvision');

const rows = {
  "gluoncv: decode+rrc(sharp lanczos3)+flip+jitter(b/c/s)+lighting+normalize (loader)": [train, { pixelTransform: gluoncv }],
  "gluoncv: decode(sharp)+rrc(bilinear)+flip+jitter(b/c/s)+lighting+normalize (loader)": [trainBilinear, { pixelTransform: gluoncv }],
  'decode+rrc(sharp lanczos3)+flip (loader)': [train, { pixelTransform: pixelPipeline({ colorJitter: false, lighting: false, normalize: false }) }],
  'decode(sharp)+rrc(bilinear)+flip (loader)': [trainBilinear, { pixelTransform: pixelPipeline({ colorJitter: false, lighting: false, normalize: false }) }],
  'paper on tensors (the reference path): decode+rrc(sharp lanczos3), then tensorTransform (loader)': [train, { transform: paper.tensorTransform }],
};
// sharp alone: read + decode + RRC box + extract + resize to 224, one image at a time.
await train.get(0, createRng(0));
node['decode+rrc (sharp lanczos3, sequential, no loader)'] = await measure(async () => {
  let n = 0;
  for (let r = 0; r < REPEATS; r++) for (let i = 0; i < train.size; i++) await train.get(i, createRng(r, i)), n++;
  return n;
});
for (const [name, [dataset, options]] of Object.entries(rows)) {
  const t0 = performance.now();
  try {
    node[name] = await loaderRow(dataset, options);
  } catch (err) {
    node[name] = { error: String(err.message ?? err) };
  }
  console.error(`${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

// torchvision, with Debian's python3 (a pyenv python3 first on PATH may lack torch).
let torchvision = { skipped: 'no python3 with torch found' };
for (const py of ['/usr/bin/python3', 'python3']) {
  if (py.startsWith('/') && !existsSync(py)) continue;
  const r = spawnSync(py, [join(here, 'torchvision_pipeline.py'), root, String(REPEATS), String(BATCH)], { encoding: 'utf8' });
  if (r.status !== 0) continue;
  const parsed = JSON.parse(r.stdout.trim().split('\n').pop());
  if (!parsed.skipped) {
    torchvision = { python: py, ...parsed };
    break;
  }
  torchvision = parsed;
}
// The headline again after torchvision (A, B, A): load on a shared machine drifts; ours is the mean of both.
const after = await headline('paper pipeline, after torchvision');
rmSync(root, { recursive: true, force: true });
const loadAfter = loadavg();
const mean = (x, y) => ({
  images: x.images + y.images,
  imgPerSec: (x.imgPerSec + y.imgPerSec) / 2,
  imgPerCpuSec: (x.imgPerCpuSec + y.imgPerCpuSec) / 2,
  cpuPerWall: (x.cpuPerWall + y.cpuPerWall) / 2,
  runs: [x, y],
});
node[HEAD_DEFAULT] = mean(before[0], after[0]);
node[HEAD_BILINEAR] = mean(before[1], after[1]);

const fmt = (v) => v.toFixed(0).padStart(6);
console.log(`load average (1/5/15 min) before ${loadBefore.map((v) => v.toFixed(2)).join(' ')}, after ${loadAfter.map((v) => v.toFixed(2)).join(' ')}`);
console.log(`\nbag-of-tricks data pipeline: ${IMAGES} JPEGs 500x375 (avg ${(bytes / IMAGES / 1024).toFixed(0)} KiB), 224x224 out, batch ${BATCH}, tfjs ${backend}, ${cpus().length} cores`);
console.log(`${''.padEnd(100)}  img/s  img/CPU-s (per core)`);
const order = [HEAD_DEFAULT, HEAD_BILINEAR, ...Object.keys(node).filter((k) => k !== HEAD_DEFAULT && k !== HEAD_BILINEAR)];
for (const name of order) {
  const r = node[name];
  console.log(r.error ? `  ${name.padEnd(98)} failed: ${r.error}` : `  ${name.padEnd(98)}${fmt(r.imgPerSec)}  ${fmt(r.imgPerCpuSec)}`);
}
const ratios = {};
let headlineResult = null;
if (torchvision.stages) {
  const TV_PAPER = 'paper (rrc+flip+jitter b/s/h+lighting+normalize)';
  const TV_GLUON = 'gluoncv (rrc+flip+jitter b/c/s+lighting+normalize)';
  const TV_DECODE = 'decode+rrc+flip (to tensor)';
  console.log(`torchvision ${torchvision.torchvision} (torch ${torchvision.torch}, 1 thread, PIL decode, batches of ${BATCH} stacked):`);
  for (const [name, r] of Object.entries(torchvision.stages)) console.log(`  ${name.padEnd(98)}${fmt(r.imgPerSec)}  ${fmt(r.imgPerCpuSec)}`);
  const pairs = [
    [HEAD_DEFAULT, TV_PAPER],
    [HEAD_BILINEAR, TV_PAPER],
    ['gluoncv: decode+rrc(sharp lanczos3)+flip+jitter(b/c/s)+lighting+normalize (loader)', TV_GLUON],
    ['gluoncv: decode(sharp)+rrc(bilinear)+flip+jitter(b/c/s)+lighting+normalize (loader)', TV_GLUON],
    ['decode+rrc(sharp lanczos3)+flip (loader)', TV_DECODE],
    ['decode(sharp)+rrc(bilinear)+flip (loader)', TV_DECODE],
    ['paper on tensors (the reference path): decode+rrc(sharp lanczos3), then tensorTransform (loader)', TV_PAPER],
  ];
  console.log('ratio ours / torchvision: per core (img per CPU-second), and wall (img/s; ours on every core, torchvision 1 thread):');
  for (const [ours, theirs] of pairs) {
    if (!node[ours]?.imgPerCpuSec) continue;
    const ratio = node[ours].imgPerCpuSec / torchvision.stages[theirs].imgPerCpuSec;
    const wall = node[ours].imgPerSec / torchvision.stages[theirs].imgPerSec;
    ratios[`${ours} vs ${theirs}`] = ratio;
    console.log(`  ${ours.padEnd(98)}${ratio.toFixed(2).padStart(6)}x  ${wall.toFixed(2).padStart(6)}x wall`);
  }
  const tvPaper = torchvision.stages[TV_PAPER];
  headlineResult = {
    torchvision: tvPaper,
    default: { ...node[HEAD_DEFAULT], perCoreRatio: node[HEAD_DEFAULT].imgPerCpuSec / tvPaper.imgPerCpuSec, wallRatio: node[HEAD_DEFAULT].imgPerSec / tvPaper.imgPerSec },
    bilinear: { ...node[HEAD_BILINEAR], perCoreRatio: node[HEAD_BILINEAR].imgPerCpuSec / tvPaper.imgPerCpuSec, wallRatio: node[HEAD_BILINEAR].imgPerSec / tvPaper.imgPerSec },
  };
  console.log(
    `\nHEADLINE paper pipeline per core: default (lanczos3) ${headlineResult.default.perCoreRatio.toFixed(2)}x, resample 'bilinear' ${headlineResult.bilinear.perCoreRatio.toFixed(2)}x torchvision ` +
      `(${tvPaper.imgPerCpuSec.toFixed(0)} img/CPU-s); wall ${headlineResult.default.wallRatio.toFixed(2)}x / ${headlineResult.bilinear.wallRatio.toFixed(2)}x`,
  );
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
  headline: headlineResult,
  node,
  torchvision,
  ratios,
};
writeFileSync(join(outDir, 'pipeline.json'), JSON.stringify(result, null, 2) + '\n');
console.log(`\nwrote ${join(outDir, 'pipeline.json')}`);
