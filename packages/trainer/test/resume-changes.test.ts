import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempOut, tinyConfig } from './helpers';

// BOT_TRAINER_CLI runs these tests against another build (say, the one before a fix).
const cli = process.env.BOT_TRAINER_CLI ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const EMBEDDED = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data', 'assets', 'fashion-mnist-subset');

/** The first `n` images and labels of an embedded IDX split, as a new IDX file pair. */
function idxSubset(dir: string, split: 'train' | 't10k', n: number): void {
  const images = gunzipSync(readFileSync(join(EMBEDDED, `${split}-images-idx3-ubyte.gz`)));
  const labels = gunzipSync(readFileSync(join(EMBEDDED, `${split}-labels-idx1-ubyte.gz`)));
  const pixels = images.readUInt32BE(8) * images.readUInt32BE(12);
  const img = Buffer.from(images.subarray(0, 16 + n * pixels));
  img.writeUInt32BE(n, 4);
  const lab = Buffer.from(labels.subarray(0, 8 + n));
  lab.writeUInt32BE(n, 4);
  writeFileSync(join(dir, `${split}-images-idx3-ubyte.gz`), gzipSync(img));
  writeFileSync(join(dir, `${split}-labels-idx1-ubyte.gz`), gzipSync(lab));
}

interface Line {
  type: string;
  step?: number;
  lr?: number;
  epoch?: number;
}
const lines = (out: string): Line[] =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);

function run(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [cli, 'train', ...args, '--no-progress', '--no-report'], { encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

/** Cosine from `peak` to 0 over steps 0..T-1, no warmup: the schedules README's formula, worked here by hand. */
const cosine = (t: number, T: number, peak: number): number => 0.5 * peak * (1 + Math.cos((Math.PI * t) / (T - 1)));

// 256 training images: 8 batches of 32 or 4 of 64 per epoch; 100 test images.
const N = 256;
let data: string;
let base: string;
const ckpt = (step: number) => join(base, 'checkpoints', `ckpt-${String(step).padStart(8, '0')}.ckpt`);

describe('resuming with a changed config, through the CLI', () => {
  beforeAll(() => {
    data = tempOut('idx');
    mkdirSync(data, { recursive: true });
    idxSubset(data, 'train', N);
    idxSubset(data, 't10k', 100);
    // batch 32, 2 epochs (16 steps), cosine without warmup, a checkpoint every step; stopped after step 4.
    base = tempOut('base');
    const config = { ...tinyConfig(), data: { source: 'idx', dir: data }, out: base, epochs: 2, warmupEpochs: 0, checkpoint: { every: 1, keep: 100 } };
    writeFileSync(`${base}.json`, JSON.stringify(config));
    const r = run([`${base}.json`, '--stop-after', '4']);
    expect(r.status, r.out).toBe(0);
  }, 180_000);

  it('batchSize 32 -> 64 at 128 samples into epoch 1: the rest of epoch 1 and epoch 2 at batch 64, the schedule in samples seen', () => {
    const out = tempOut('bigger');
    const r = run(['--resume', ckpt(4), '--out', out, '--batch-size', '64']);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/resume: batchSize 32 -> 64: the schedule continues in samples seen, at epoch 1 batch 2 of 4/);
    const steps = lines(out).filter((l) => l.type === 'step');
    // 128 samples done = 2 batches of 64; 2 more in epoch 1, then 4 in epoch 2: optimiser steps 5..10.
    expect(steps.map((l) => l.step)).toEqual([5, 6, 7, 8, 9, 10]);
    expect(steps.map((l) => l.epoch)).toEqual([0, 0, 1, 1, 1, 1]);
    // The lr of batch 64 (peak 0.8 * 64/256 = 0.2) at schedule steps 2..7 of its 8-step cosine: it ends exactly at 0 on
    // the last step (before: the rest of epoch 1 was skipped and the 16-step schedule of batch 32's count ran on).
    steps.forEach((l, i) => expect(l.lr, `step ${l.step}`).toBeCloseTo(cosine(2 + i, 8, 0.2), 12));
    expect(steps.at(-1)!.lr).toBe(0);
    expect(lines(out).filter((l) => l.type === 'epoch').map((l) => l.epoch)).toEqual([0, 1]);
  }, 180_000);

  it('batchSize 32 -> 64 at 96 samples (not a whole batch of 64) is refused, naming the field', () => {
    const r = run(['--resume', ckpt(3), '--out', tempOut('refused'), '--batch-size', '64']);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/bag-of-tricks: batchSize: cannot resume from .*ckpt-00000003\.ckpt with this value: the checkpoint is 96 samples \(3 batches of 32\) into epoch 1/);
    expect(r.out).toMatch(/Resume with batchSize 32, a batch size that divides 96, or from a checkpoint written at an epoch end/);
  }, 180_000);

  it('seed changed mid-epoch is refused, naming the field (the rest of the epoch would visit other samples)', () => {
    const r = run(['--resume', ckpt(3), '--out', tempOut('seed'), '--seed', '8']);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/bag-of-tricks: seed: cannot resume from .*ckpt-00000003\.ckpt with this value: the checkpoint is 3 of 8 batches into epoch 1/);
  }, 180_000);

  it("epochs 2 -> 3: continues on the new config's schedule at the same step, and says how the lr moves", () => {
    const out = tempOut('longer');
    const r = run(['--resume', ckpt(4), '--out', out, '--epochs', '3', '--stop-after', '6']);
    expect(r.status, r.out).toBe(0);
    // Peak 0.8 * 32/256 = 0.1; schedule step 4 of the 16-step cosine before, of the 24-step one now.
    const before = cosine(4, 16, 0.1).toPrecision(4);
    const after = cosine(4, 24, 0.1).toPrecision(4);
    expect(r.out).toContain(`resume: epochs changed: the run continues on this config's schedule; lr at the next step ${before} (checkpoint's config) -> ${after}`);
    const steps = lines(out).filter((l) => l.type === 'step');
    expect(steps.map((l) => l.step)).toEqual([5, 6]);
    steps.forEach((l, i) => expect(l.lr).toBeCloseTo(cosine(4 + i, 24, 0.1), 12));
    expect(existsSync(join(out, 'checkpoints', 'ckpt-00000006.ckpt'))).toBe(true);
  }, 180_000);
});
