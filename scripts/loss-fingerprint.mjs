#!/usr/bin/env node
// The sha256 of the first N training losses (bit patterns, float64) of fixed-seed runs through the built CLI,
// for "behaviour is unchanged" checks across a refactor: run it before and after and compare the lines.
//
//   node scripts/loss-fingerprint.mjs [--steps 50] [--only embedded,folder-rgb,folder-grey]
//
// Runs `node packages/trainer/dist/cli.js train <config> --stop-after N` from a fresh temp folder (no backend
// preloaded) for: the embedded example (examples/fashion-mnist/train.mjs's config, 1 worker, wasm), an RGB image
// folder (defaults: resample, crop scale, eval resize) and a greyscale image folder (its preset's defaults).
// The JPEGs are written here from a seeded generator, so every run sees the same bytes. Prints one line per run:
// `<name> <sha256> <first loss> <last loss> mean <mean loss> last-K <mean of the last tenth>` (the means say whether a
// deliberate change of the random draws left the curve where it was); exits 1 when a run fails or logs fewer than N steps.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'packages/trainer/dist/cli.js');
const { values } = parseArgs({ options: { steps: { type: 'string', default: '50' }, only: { type: 'string' } } });
const steps = Number(values.steps);
const work = mkdtempSync(join(tmpdir(), 'bot-fingerprint-'));

/** mulberry32: a seeded generator for the JPEG pixels (independent of the code under test). */
function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function writeFolder(dir, channels) {
  const random = generator(11);
  for (const split of ['train', 'val']) {
    for (const [cls, tint] of [['red', [200, 60, 50]], ['blue', [40, 70, 210]]]) {
      const d = join(dir, split, cls);
      mkdirSync(d, { recursive: true });
      for (let i = 0; i < (split === 'train' ? 24 : 8); i++) {
        const width = 40 + Math.floor(random() * 30);
        const height = 36 + Math.floor(random() * 30);
        const pixels = Buffer.alloc(width * height * channels);
        for (let p = 0; p < pixels.length; p++) pixels[p] = Math.max(0, Math.min(255, Math.round(tint[p % channels] + 80 * (random() - 0.5))));
        await sharp(pixels, { raw: { width, height, channels } }).jpeg({ quality: 85 }).toFile(join(d, `${i}.jpg`));
      }
    }
  }
}

const tiny = { name: 'resnet18d', options: { stem: 'small', width: 0.125, layers: [1, 1, 1, 1], zeroGamma: true } };
const folderCommon = { model: tiny, epochs: 10, batchSize: 8, baseLr: 0.2, warmupEpochs: 1, noBiasDecay: true, backend: 'wasm', seed: 3, logEvery: 1 };
const runs = {
  // examples/fashion-mnist/train.mjs on the embedded subset, one worker.
  embedded: async () => ({
    model: { name: 'resnet18d', options: { stem: 'small', width: 0.25, layers: [1, 1, 1, 1], zeroGamma: true } },
    data: { source: 'embedded' },
    epochs: 5,
    batchSize: 64,
    optimizer: { kind: 'nag', momentum: 0.9 },
    baseLr: 0.4,
    linearScaling: true,
    warmupEpochs: 1,
    schedule: { kind: 'cosine' },
    weightDecay: 1e-4,
    noBiasDecay: true,
    labelSmoothing: { epsilon: 0.1, form: 'uniform' },
    mixup: { alpha: 0.2, offEpochs: 1 },
    seed: 0,
    workers: 1,
    backend: 'wasm',
    logEvery: 1,
  }),
  // RGB JPEGs, every data default (resample, crop scale/ratio, eval resize), jitter + lighting + smoothing + cutmix.
  'folder-rgb': async () => {
    const dir = join(work, 'rgb');
    await writeFolder(dir, 3);
    return {
      ...folderCommon,
      data: { source: 'image-folder', dir: join(dir, 'train'), evalDir: join(dir, 'val'), size: 24 },
      augment: { colorJitter: { brightness: 0.2, saturation: 0.2, hue: 0.1 } },
      labelSmoothing: { epsilon: 0.1 },
      cutmix: { alpha: 1, offEpochs: 2 },
    };
  },
  // Greyscale JPEGs: the greyscale preset's defaults (crop scale among them).
  'folder-grey': async () => {
    const dir = join(work, 'grey');
    await writeFolder(dir, 1);
    return { ...folderCommon, data: { source: 'image-folder', dir: join(dir, 'train'), evalDir: join(dir, 'val'), size: 24, greyscale: true } };
  },
};

let failed = false;
for (const name of values.only ? values.only.split(',') : Object.keys(runs)) {
  const config = await runs[name]();
  const folder = mkdtempSync(join(work, `${name}-`));
  writeFileSync(join(folder, 'config.json'), JSON.stringify(config));
  try {
    execFileSync(process.execPath, [cli, 'train', 'config.json', '--out', 'out', '--stop-after', String(steps), '--no-progress', '--no-report', '--quiet'], {
      cwd: folder,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, BOT_BACKEND: '' },
    });
  } catch (err) {
    console.log(`${name} FAILED (${err.message.split('\n')[0]})`);
    failed = true;
    continue;
  }
  const losses = readFileSync(join(folder, 'out/metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((r) => r.type === 'step')
    .map((r) => r.loss)
    .slice(0, steps);
  if (losses.length < steps) {
    console.log(`${name} FAILED (${losses.length} steps logged, wanted ${steps})`);
    failed = true;
    continue;
  }
  const bytes = Buffer.from(new Float64Array(losses).buffer);
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const tenth = Math.max(1, Math.floor(steps / 10));
  console.log(`${name} ${createHash('sha256').update(bytes).digest('hex')} ${losses[0]} ${losses.at(-1)} mean ${mean(losses).toFixed(4)} last-${tenth} ${mean(losses.slice(-tenth)).toFixed(4)}`);
}
process.exitCode = failed ? 1 : 0;
