import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempOut, tinyConfig } from './helpers';

// What a user runs: the built CLI in a fresh process, no backend loaded before it starts.
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

function run(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [cli, 'train', ...args, '--no-progress', '--no-report'], { encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

const stepLosses = (out: string): Map<number, number> =>
  new Map(
    readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; step: number; loss: number })
      .filter((l) => l.type === 'step')
      .map((l) => [l.step, l.loss]),
  );

describe('bag-of-tricks train --resume, through the CLI', () => {
  it('continues a stopped run on the uninterrupted curve: with no value, with a checkpoint path and no config', () => {
    expect(existsSync(cli), `${cli} is missing: run \`npm run build\` first`).toBe(true);
    const config = { ...tinyConfig(), epochs: 1, checkpoint: { every: 4, keep: 3 } };
    const whole = tempOut('whole');
    writeFileSync(`${whole}.json`, JSON.stringify({ ...config, out: whole }));
    const a = run([`${whole}.json`, '--stop-after', '12']);
    expect(a.status, a.out).toBe(0);
    const reference = stepLosses(whole);
    expect(reference.size).toBe(12);

    // Stop at 5, resume with no value (newest checkpoint: step 5), stop at 9, resume from a path without a config.
    const parts = tempOut('parts');
    writeFileSync(`${parts}.json`, JSON.stringify({ ...config, out: parts }));
    const b = run([`${parts}.json`, '--stop-after', '5']);
    expect(b.status, b.out).toBe(0);
    const c = run([`${parts}.json`, '--resume', '--stop-after', '9']);
    expect(c.status, c.out).toBe(0);
    expect(c.out).toMatch(/resumed from .*ckpt-00000005\.ckpt at step 5/);
    const ckpt = join(parts, 'checkpoints', 'ckpt-00000009.ckpt');
    expect(readdirSync(join(parts, 'checkpoints'))).toContain('ckpt-00000009.ckpt');
    const d = run(['--resume', ckpt, '--stop-after', '12', '--backend', 'wasm']);
    expect(d.status, d.out).toBe(0);
    expect(d.out).toMatch(/resumed from .*ckpt-00000009\.ckpt at step 9/);

    const resumed = stepLosses(parts);
    for (let step = 1; step <= 12; step++) expect(resumed.get(step), `step ${step}`).toBe(reference.get(step));

    // Resumed at its stop step, --stop-after 12 trains nothing more (it used to run step 13).
    const e = run(['--resume', join(parts, 'checkpoints', 'ckpt-00000012.ckpt'), '--stop-after', '12']);
    expect(e.status, e.out).toBe(0);
    expect(e.out).toMatch(/Stopped after 12 steps/);
    expect([...stepLosses(parts).keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it('a missing checkpoint is named before any backend starts', () => {
    const r = run(['--resume', join(tempOut('none'), 'ckpt-00000001.ckpt')]);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/bag-of-tricks: Checkpoint not found: .*ckpt-00000001\.ckpt/);
    expect(r.out).not.toMatch(/\[bag-of-tricks\] backend/);
  });
});
