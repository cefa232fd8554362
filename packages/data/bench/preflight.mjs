#!/usr/bin/env node
// Times the header-only data check (checkImageFolders) on a 10,000-image folder.
//
//   node packages/data/bench/preflight.mjs [--train 10000] [--eval 2000] [--dir /tmp/bot-preflight-bench]
//
// Writes Fashion-MNIST images (Debian's dataset-fashion-mnist, else the embedded subset) as an image folder,
// alternating JPEG and PNG, into --dir (reused when it already holds the same counts), then times:
// checkImageFolders at concurrency 1 and 8 (default), and, for comparison, one sharp metadata() call per file
// (what the check does only for formats its own JPEG/PNG header parser does not read). The page cache is warm
// (the files were just written or read): on a cold disk add the time to read the first 16 KiB and last 64 bytes
// of each file. Prints a Markdown table and writes bench-results/preflight.json.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import { checkImageFolders, DEBIAN_FASHION_MNIST_DIR, EMBEDDED_FASHION_MNIST_DIR } from '../dist/index.js';

const args = Object.fromEntries(process.argv.slice(2).map((a, i, all) => (a.startsWith('--') ? [a.slice(2), all[i + 1]] : null)).filter(Boolean));
const nTrain = Number(args.train ?? 10000);
const nEval = Number(args.eval ?? 2000);
const root = args.dir ?? '/tmp/bot-preflight-bench';

const source = existsSync(join(DEBIAN_FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')) ? DEBIAN_FASHION_MNIST_DIR : EMBEDDED_FASHION_MNIST_DIR;
const read = (name) => gunzipSync(readFileSync(join(source, name)));

async function writeSplit(split, prefix, n) {
  const images = read(`${prefix}-images-idx3-ubyte.gz`);
  const labels = read(`${prefix}-labels-idx1-ubyte.gz`);
  const available = labels.length - 8;
  if (n > available) throw new Error(`${source} has ${available} ${prefix} images, asked for ${n}`);
  for (let c = 0; c < 10; c++) mkdirSync(join(root, split, `class${c}`), { recursive: true });
  const jobs = [];
  for (let i = 0; i < n; i++) {
    const img = sharp(Buffer.from(images.subarray(16 + i * 784, 16 + (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } });
    const file = join(root, split, `class${labels[8 + i]}`, `${i}.${i % 2 ? 'png' : 'jpg'}`);
    jobs.push((i % 2 ? img.png() : img.jpeg({ quality: 90 })).toFile(file));
    if (jobs.length >= 64) await Promise.all(jobs.splice(0));
  }
  await Promise.all(jobs);
}

const count = (dir) => (existsSync(dir) ? readdirSync(dir).reduce((s, c) => s + readdirSync(join(dir, c)).length, 0) : 0);
if (count(join(root, 'train')) !== nTrain || count(join(root, 'val')) !== nEval) {
  console.log(`writing ${nTrain} + ${nEval} images from ${source} to ${root} …`);
  await writeSplit('train', 'train', nTrain);
  await writeSplit('val', 't10k', nEval);
}

const loadBefore = loadavg()[0];
const folders = { train: join(root, 'train'), eval: join(root, 'val') };
await checkImageFolders(folders); // warm-up: page cache and code
const rows = [];
for (const concurrency of [1, 8]) {
  const r = await checkImageFolders(folders, { concurrency });
  rows.push({ what: `checkImageFolders, concurrency ${concurrency}`, trainSeconds: r.train.seconds, evalSeconds: r.eval.seconds, images: r.train.checked + r.eval.checked });
}
const files = readdirSync(folders.train).flatMap((c) => readdirSync(join(folders.train, c)).map((f) => join(folders.train, c, f)));
let started = performance.now();
for (const f of files) await sharp(f).metadata();
rows.push({ what: 'sharp(file).metadata() per train file, one at a time', trainSeconds: (performance.now() - started) / 1000, evalSeconds: null, images: files.length });
const loadAfter = loadavg()[0];

const date = new Date().toISOString().slice(0, 10);
console.log(`\n${date}, ${nTrain} train + ${nEval} eval images (28x28, half JPEG, half PNG, from ${source}); load average ${loadBefore.toFixed(1)} -> ${loadAfter.toFixed(1)}\n`);
console.log('| Pass | train (s) | eval (s) | µs per image |\n| --- | ---: | ---: | ---: |');
for (const r of rows) {
  const per = (1e6 * r.trainSeconds) / (r.evalSeconds === null ? r.images : nTrain);
  console.log(`| ${r.what} | ${r.trainSeconds.toFixed(2)} | ${r.evalSeconds === null ? '—' : r.evalSeconds.toFixed(2)} | ${per.toFixed(0)} |`);
}
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/preflight.json', `${JSON.stringify({ date, nTrain, nEval, source, loadBefore, loadAfter, rows }, null, 2)}\n`);
