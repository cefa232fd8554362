import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const HERE = dirname(fileURLToPath(import.meta.url));
const LADDER = resolve(HERE, '../ladder.mjs');
const ROOT = resolve(HERE, '../../..');
const RUNGS = ['0', '1', '2', '3', '4', '4u', '5', '4L', '6', '7'];

/** `npm run ablation -- --quick` from a fresh folder, as a user runs it (the built trainer, no backend preloaded). */
function ladder(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [LADDER, '--quick', ...args], { cwd, encoding: 'utf8', timeout: 1_500_000 });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

describe('npm run ablation -- --quick (every rung, 1 seed, 1 epoch, on the embedded subset)', () => {
  it('writes one result file per rung and the teacher; a second start skips them all', { timeout: 1_800_000 }, () => {
    const cwd = mkdtempSync(join(tmpdir(), 'bot-ablation-'));
    const results = join(cwd, 'results');
    const started = Date.now();
    const first = ladder(['--results', results, '--runs', join(cwd, 'runs'), '--parallel', '2', '--workers', '1'], cwd);
    console.log(`--quick: ${((Date.now() - started) / 1000).toFixed(0)} s`);
    expect(first.code, first.out).toBe(0);

    // The commit checked out when the run ran: HEAD, or an ancestor of it if a commit landed meanwhile.
    const isCheckedOutCommit = (commit: string) => {
      if (!/^[0-9a-f]{40}$/.test(commit)) return false;
      try {
        execFileSync('git', ['merge-base', '--is-ancestor', commit, 'HEAD'], { cwd: ROOT });
        return true;
      } catch {
        return false;
      }
    };
    for (const rung of [...RUNGS, 'teacher']) {
      const file = join(results, rung, 'seed-0.json');
      expect(existsSync(file), `${file} missing\n${first.out}`).toBe(true);
      const r = JSON.parse(readFileSync(file, 'utf8'));
      expect(r).toMatchObject({ format: 'bag-of-tricks/ablation-run@1', implementation: 'tfjs', rung, seed: 0 });
      expect(isCheckedOutCommit(r.commit), `commit ${r.commit}`).toBe(true);
      // 1 epoch per rung; the 1.6x rungs round up to 2.
      expect(r.epochs).toHaveLength(['4L', '6', '7'].includes(rung) ? 2 : 1);
      expect(r.config.epochs).toBe(r.epochs.length);
      for (const e of r.epochs) {
        for (const k of ['top1', 'top5', 'loss', 'seconds']) expect(Number.isFinite(e[k]), `${rung} epoch ${e.epoch} ${k}`).toBe(true);
        expect(e.top5).toBeGreaterThanOrEqual(e.top1);
      }
      expect(r.final).toEqual({ top1: r.epochs.at(-1).top1, top5: r.epochs.at(-1).top5, loss: r.epochs.at(-1).loss });
      // Above chance (0.1 ± 0.01 on 1,000 test images): 1 epoch of rung 1+ is only 23 steps at batch 256 (26-32% here).
      expect(r.final.top1, `rung ${rung}`).toBeGreaterThan(0.15);
      expect(r.seconds).toBeGreaterThan(0);
      expect(['wasm', 'cpu', 'tensorflow']).toContain(r.backend);
      expect(r.config.data).toEqual({ source: 'embedded' });
    }
    // Rungs 5 and 7 learned from the model the teacher run saved.
    const teacher = JSON.parse(readFileSync(join(results, 'teacher', 'seed-0.json'), 'utf8'));
    expect(teacher.config.model.name).toBe('resnet56');
    for (const rung of ['5', '7']) {
      const r = JSON.parse(readFileSync(join(results, rung, 'seed-0.json'), 'utf8'));
      expect(r.config.distillation.teacher).toBe(join(cwd, 'runs', 'teacher', 'seed-0', 'model'));
      expect(existsSync(join(r.config.distillation.teacher, 'model.json'))).toBe(true);
    }

    const mtimes = RUNGS.map((rung) => statSync(join(results, rung, 'seed-0.json')).mtimeMs);
    const again = ladder(['--results', results, '--runs', join(cwd, 'runs')], cwd);
    expect(again.code, again.out).toBe(0);
    expect(again.out.match(/done \(top-1 [\d.]+%\), skipped/g)).toHaveLength(RUNGS.length + 1);
    expect(again.out).not.toMatch(/starting/);
    expect(RUNGS.map((rung) => statSync(join(results, rung, 'seed-0.json')).mtimeMs)).toEqual(mtimes);
  });

  it('refuses a bad rung or seed list before anything runs, naming the option', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'bot-ablation-'));
    const bad = ladder(['--rungs', '0,9'], cwd);
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/unknown rung '9'; the rungs are 0, 1, 1b, 1z, 2, 3, 4, 4u, 4bf, 5, 4L, 6, 7/);
    const seeds = ladder(['--seeds', 'a'], cwd);
    expect(seeds.code).toBe(2);
    expect(seeds.out).toMatch(/--seeds: expected non-negative integers, got 'a'/);
  });
});
