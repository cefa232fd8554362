import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const HERE = dirname(fileURLToPath(import.meta.url));
const TRANSFER = resolve(HERE, '../transfer.mjs');
const ARMS = ['pretrain-0', 'pretrain-7', ...['0', '7'].flatMap((r) => ['few', 'all'].flatMap((g) => [`finetune-${r}-${g}`, `scratch-${r}-${g}`]))];
const SOURCE_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat'];
const TARGET_NAMES = ['Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** `npm run transfer -- --quick` from a fresh folder, as a user runs it (the built trainer, no backend preloaded). */
function transfer(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [TRANSFER, '--quick', ...args], { cwd, encoding: 'utf8', timeout: 1_500_000 });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}
const classNamesOf = (model: string): string[] => JSON.parse(readFileSync(join(model, 'model.json'), 'utf8')).userDefinedMetadata.classNames;

describe('npm run transfer -- --quick (every arm, 1 seed, 1 epoch, on the embedded subset)', () => {
  it('pretrains on classes 0-4, fine-tunes and trains from scratch on 5-9, one result file per run; a second start skips them all', { timeout: 1_800_000 }, () => {
    const cwd = mkdtempSync(join(tmpdir(), 'bot-transfer-'));
    const results = join(cwd, 'results');
    const runs = join(cwd, 'runs');
    const started = Date.now();
    const first = transfer(['--results', results, '--runs', runs, '--parallel', '2'], cwd);
    console.log(`--quick: ${((Date.now() - started) / 1000).toFixed(0)} s`);
    expect(first.code, first.out).toBe(0);

    for (const arm of [...ARMS, 'teacher']) {
      const file = join(results, arm, 'seed-0.json');
      expect(existsSync(file), `${file} missing\n${first.out}`).toBe(true);
      const r = JSON.parse(readFileSync(file, 'utf8'));
      expect(r).toMatchObject({ format: 'bag-of-tricks/ablation-run@1', implementation: 'tfjs', rung: arm, seed: 0 });
      expect(r.final).toEqual({ top1: r.epochs.at(-1).top1, top5: r.epochs.at(-1).top5, loss: r.epochs.at(-1).loss });
      // Above chance: 5 classes, 500 test images of each task (0.20 ± 0.018).
      expect(r.final.top1, arm).toBeGreaterThan(0.25);
      const target = !arm.startsWith('pretrain') && arm !== 'teacher';
      expect(r.config.data).toEqual({ source: 'embedded', classes: target ? [5, 6, 7, 8, 9] : [0, 1, 2, 3, 4], ...(arm.endsWith('-few') ? { perClass: 50 } : {}) });
      // The model predicts the task's 5 classes, by name.
      expect(classNamesOf(join(runs, arm, 'seed-0', 'model'))).toEqual(target ? TARGET_NAMES : SOURCE_NAMES);
      // 1 epoch; the 1.6x rung 7 rounds up to 2; the few-shot regime trains 2x the epochs, 10 steps of 25 each.
      expect(r.epochs).toHaveLength(arm === 'pretrain-7' || arm.endsWith('-few') ? 2 : 1);
      if (arm.endsWith('-few')) expect([r.config.batchSize, r.steps]).toEqual([25, 20]);
      if (arm.endsWith('-all')) expect(r.steps).toBe(23); // 3,000 images / batch 128
    }
    // Fine-tuning starts from the same seed's pretrained model with a new head; scratch has no init.
    for (const recipe of ['0', '7']) {
      for (const regime of ['few', 'all']) {
        const ft = JSON.parse(readFileSync(join(results, `finetune-${recipe}-${regime}`, 'seed-0.json'), 'utf8'));
        expect(ft.config.init).toMatchObject({ from: join(runs, `pretrain-${recipe}`, 'seed-0', 'model'), newHead: true });
        const scratch = JSON.parse(readFileSync(join(results, `scratch-${recipe}-${regime}`, 'seed-0.json'), 'utf8'));
        expect(scratch.config.init).toBeUndefined();
        expect(scratch.config.model).toEqual(ft.config.model);
      }
    }
    // Rung 7 distils from the teacher the harness trained on classes 0-4.
    const p7 = JSON.parse(readFileSync(join(results, 'pretrain-7', 'seed-0.json'), 'utf8'));
    expect(p7.config.distillation.teacher).toBe(join(runs, 'teacher', 'seed-0', 'model'));
    expect(p7.config.mixup).toBeDefined();

    const mtimes = ARMS.map((arm) => statSync(join(results, arm, 'seed-0.json')).mtimeMs);
    const again = transfer(['--results', results, '--runs', runs], cwd);
    expect(again.code, again.out).toBe(0);
    expect(again.out.match(/done \(top-1 [\d.]+%\), skipped/g)).toHaveLength(ARMS.length + 1);
    expect(again.out).not.toMatch(/starting/);
    expect(ARMS.map((arm) => statSync(join(results, arm, 'seed-0.json')).mtimeMs)).toEqual(mtimes);
  });

  it('refuses a bad recipe, regime or seed list before anything runs, naming the option', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'bot-transfer-'));
    const bad = transfer(['--recipes', '0,9'], cwd);
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/unknown rung '9'; the rungs are 0, 1, 1b, 1z, 2, 3, 4, 4u, 4bf, 5, 4L, 6, 7/);
    const regimes = transfer(['--regimes', 'some'], cwd);
    expect(regimes.code).toBe(2);
    expect(regimes.out).toMatch(/--regimes: unknown regime 'some'; the regimes are few, all/);
    expect(transfer(['--seeds', 'x'], cwd).out).toMatch(/--seeds: expected non-negative integers, got 'x'/);
  });
});
