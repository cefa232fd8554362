import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempOut, tinyConfig } from './helpers';

// BOT_TRAINER_CLI runs these tests against another build (say, the one before a fix).
const cli = process.env.BOT_TRAINER_CLI ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

/**
 * Counts the tensors of a checkpoint file holding NaN or ±Infinity, reading the format by hand (8 magic bytes,
 * u32 header length, JSON header, tensors from the next 8-byte boundary): independent of the trainer's decoder.
 */
function nonFiniteTensors(path: string): string[] {
  const bytes = readFileSync(path);
  expect(bytes.subarray(0, 8).toString('latin1')).toBe('BOTCKPT1');
  const headerLength = bytes.readUInt32LE(8);
  const header = JSON.parse(bytes.subarray(12, 12 + headerLength).toString('utf8')) as {
    tensors: { name: string; dtype: string; byteOffset: number; byteLength: number }[];
  };
  const start = Math.ceil((12 + headerLength) / 8) * 8;
  return header.tensors
    .filter((t) => t.dtype === 'float32')
    .filter((t) => {
      const at = start + t.byteOffset;
      for (let i = 0; i < t.byteLength; i += 4) if (!Number.isFinite(bytes.readFloatLE(at + i))) return true;
      return false;
    })
    .map((t) => t.name);
}

interface Line {
  type: string;
  step?: number;
  loss?: number | string;
}

function runDiverging(baseLr: number): { status: number | null; output: string; out: string; lines: Line[]; checkpoints: string[] } {
  const out = tempOut(`lr-${baseLr}`);
  const config = { ...tinyConfig(), out, baseLr, epochs: 1, checkpoint: { every: 1, keep: 1000 } };
  writeFileSync(`${out}.json`, JSON.stringify(config));
  const r = spawnSync(process.execPath, [cli, 'train', `${out}.json`, '--stop-after', '60', '--no-progress', '--no-report'], { encoding: 'utf8', timeout: 240_000 });
  const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
  const dir = join(out, 'checkpoints');
  const checkpoints = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.ckpt')).sort().map((f) => join(dir, f)) : [];
  return { status: r.status, output: `${r.stdout}\n${r.stderr}`, out, lines, checkpoints };
}

let lr1e6: ReturnType<typeof runDiverging> | undefined;
const divergedAt1e6 = (): ReturnType<typeof runDiverging> => (lr1e6 ??= runDiverging(1e6));

/** What every diverging run must show: exit 1, the right step, every checkpoint finite, the named one the newest. */
function expectCleanStop(run: ReturnType<typeof runDiverging>): number {
  expect(run.status, run.output).toBe(1);
  expect(run.output).not.toMatch(/^(Done|Stopped) after/m);
  const m = /bag-of-tricks: Training diverged: (?:after step (\d+) \(epoch 1\) the weights or optimizer state hold NaN or Infinity|the loss is \S+ at step (\d+) \(epoch 1\))\b.*Last good checkpoint: (\S+ckpt-(\d+)\.ckpt)/.exec(run.output);
  expect(m, run.output).not.toBeNull();
  const step = Number(m![1] ?? m![2]);
  const named = m![3]!;
  // Every checkpoint on disk is finite, and the one named is the newest: the step just before the divergence.
  for (const c of run.checkpoints) expect(nonFiniteTensors(c), c).toEqual([]);
  expect(named).toBe(run.checkpoints.at(-1));
  expect(Number(m![4])).toBe(step - 1);
  // Steps before the one named trained with finite losses; the metrics end with a 'diverged' line for that step.
  const steps = run.lines.filter((l) => l.type === 'step');
  for (const s of steps.filter((l) => (l.step as number) < step)) expect(Number.isFinite(s.loss), `step ${s.step}`).toBe(true);
  expect(run.lines.at(-1)).toMatchObject({ type: 'diverged', step, lastCheckpoint: named });
  return step;
}

describe('the NaN stop, through the CLI', () => {
  it('baseLr 1e6: stops at the step whose update broke the weights (its loss still finite), naming a finite checkpoint', () => {
    const run = divergedAt1e6();
    const step = expectCleanStop(run);
    // The weights broke in this step's update: its own loss line is there and finite (the issue named step 5
    // when step 5's loss was 6.3e32 and the NaN came at step 6, and "Last good checkpoint" held 77 NaN tensors).
    const line = run.lines.find((l) => l.type === 'step' && l.step === step);
    if (run.output.includes('weights or optimizer state')) expect(Number.isFinite(line?.loss), JSON.stringify(line)).toBe(true);
    else expect(line).toBeUndefined();
  }, 240_000);

  it('baseLr 1e3: the weights go non-finite while the loss stays finite; the run stops with exit 1, not "Done"', () => {
    const run = runDiverging(1e3);
    const step = expectCleanStop(run);
    expect(run.output).toMatch(/after step \d+ \(epoch 1\) the weights or optimizer state hold NaN or Infinity \(that step's loss was [\d.e+]+\)/);
    const lossAtStop = run.lines.find((l) => l.type === 'step' && l.step === step)?.loss;
    expect(Number.isFinite(lossAtStop)).toBe(true);
  }, 240_000);

  it('refuses to resume from a checkpoint holding NaN (as written before this check), naming the file and tensors', () => {
    // Take a finite checkpoint and poison one float of its first tensor, keeping the format valid.
    const run = divergedAt1e6();
    const source = run.checkpoints[0]!;
    const bytes = readFileSync(source);
    const headerLength = bytes.readUInt32LE(8);
    const header = JSON.parse(bytes.subarray(12, 12 + headerLength).toString('utf8')) as { tensors: { name: string; byteOffset: number }[] };
    bytes.writeFloatLE(Number.NaN, Math.ceil((12 + headerLength) / 8) * 8 + header.tensors[0]!.byteOffset);
    const poisoned = join(run.out, 'poisoned.ckpt');
    writeFileSync(poisoned, bytes);
    const r = spawnSync(process.execPath, [cli, 'train', '--resume', poisoned, '--stop-after', '3', '--no-progress', '--no-report'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`Checkpoint ${poisoned} cannot be resumed from`);
    expect(r.stderr).toContain(`1 of ${header.tensors.length} tensors hold NaN or Infinity (${header.tensors[0]!.name})`);
  }, 240_000);
});
