import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempOut, tinyConfig } from './helpers';

// A process starts the wasm module once, with its thread count fixed, so each run is its own
// process: the built CLI (npm test builds every package first).
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

function runCli(workers: number, parallel?: 'data' | 'threads'): { losses: number[]; backendLog: string } {
  const out = tempOut(`workers-${workers}-${parallel ?? 'default'}`);
  const configPath = `${out}.json`;
  writeFileSync(configPath, JSON.stringify({ ...tinyConfig(), out, epochs: 1 }));
  const r = spawnSync(process.execPath, [cli, 'train', configPath, '--workers', String(workers), ...(parallel ? ['--parallel', parallel] : []), '--stop-after', '12', '--no-progress', '--no-report'], {
    encoding: 'utf8',
    timeout: 180_000,
  });
  expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss?: number });
  return { losses: lines.filter((l) => l.type === 'step').map((l) => l.loss!), backendLog: r.stdout + r.stderr };
}

// The workers: 1 reference curve both comparisons below need: one run, shared (the same config, seed and 12 steps).
let single: ReturnType<typeof runCli> | undefined;
const workersOne = () => (single ??= runCli(1, 'data'));

describe('workers', () => {
  it('workers: 2 with parallel: threads trains on 2 wasm threads and gives the same loss curve as workers: 1', () => {
    expect(existsSync(cli), `${cli} is missing: run \`npm run build\` first`).toBe(true);
    const one = workersOne();
    const two = runCli(2, 'threads');
    expect(two.backendLog).toMatch(/2 wasm threads/);
    expect(one.backendLog).not.toMatch(/wasm threads/);
    expect(one.losses).toHaveLength(12);
    // XNNPACK splits work by output tiles, so the threaded result is the single-threaded one.
    expect(two.losses).toEqual(one.losses);
  });

  it('workers: 2 (parallel: data, the default) trains 2 replicas from the built package, and the process exits', () => {
    const one = workersOne();
    const dp = runCli(2);
    expect(dp.backendLog).toMatch(/data parallel: 2 replicas \(this thread \+ 1 worker_threads\), each single-threaded wasm/);
    expect(dp.backendLog).not.toMatch(/wasm threads/);
    expect(dp.losses).toHaveLength(12);
    // Same model and loss; only BatchNorm's statistics differ (each replica normalises over its half of the batch).
    expect(Math.abs(dp.losses[0]! - one.losses[0]!) / one.losses[0]!).toBeLessThan(0.05);
    expect(dp.losses[0]).not.toBe(one.losses[0]);
  });

  it('a diverging data-parallel run stops with the NaN error, and the process exits (its workers are terminated)', () => {
    const out = tempOut('dp-nan');
    const configPath = `${out}.json`;
    writeFileSync(configPath, JSON.stringify({ ...tinyConfig(), out, epochs: 1, baseLr: 1e30, warmupEpochs: 0, linearScaling: false }));
    const r = spawnSync(process.execPath, [cli, 'train', configPath, '--workers', '2', '--no-progress', '--no-report'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.error, 'the process did not exit by itself: a worker is still running').toBeUndefined();
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/data parallel: 2 replicas/);
    expect(r.stderr).toMatch(/Training diverged: (the loss is (NaN|Infinity|-Infinity) at step \d+|after step \d+) \(epoch 1\)/);
  });
});
