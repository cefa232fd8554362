import { describe, expect, it } from 'vitest';
import { parseConfig } from '@bag-of-tricks/trainer';
// @ts-expect-error -- a plain .mjs module without types
import { armConfig, armIds, parseArm, RECIPES } from '../arms.mjs';
// @ts-expect-error -- a plain .mjs module without types
import { rungConfig, teacherConfig } from '../../ablation/rungs.mjs';

type Config = Record<string, any>;
const E = 20;
const opts = (seed = 0) => ({ epochs: E, seed, teacherPath: '/t/model', pretrained: (r: string, s: number) => `/runs/pretrain-${r}/seed-${s}/model` });
const cfg = (id: string, seed = 0): Config => armConfig(id, opts(seed));
const changed = (a: Config, b: Config): string[] =>
  [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).sort();
const target = (perClass?: number) => ({ source: 'embedded', classes: [5, 6, 7, 8, 9], ...(perClass ? { perClass } : {}), eval: { source: 'idx', dir: '/usr/share/datasets/fashion-mnist' } });

describe('the transfer arms (arms.mjs)', () => {
  it('pretrains with rung 0 and the last rung of the ladder (7), every arm a valid trainer config', () => {
    expect(RECIPES).toEqual(['0', '7']);
    for (const id of [...armIds(), 'teacher']) expect(() => parseConfig(cfg(id), id)).not.toThrow();
  });

  it("pretraining is the ladder rung's own config on classes 0-4 (read from rungs.mjs, not copied)", () => {
    for (const r of ['0', '7']) {
      expect(changed(rungConfig(r, { epochs: E, seed: 1, teacherPath: '/t/model' }), cfg(`pretrain-${r}`, 1))).toEqual(['data']);
      expect(cfg(`pretrain-${r}`).data).toEqual({ ...target(), classes: [0, 1, 2, 3, 4] });
    }
    expect(changed(teacherConfig({ epochs: E }), cfg('teacher'))).toEqual(['data']);
    expect(cfg('pretrain-7').distillation.teacher).toBe('/t/model');
  });

  it("fine-tuning and scratch differ only in init: rung 0's recipe with the pretrained architecture, a new head", () => {
    for (const r of ['0', '7']) {
      for (const g of ['few', 'all']) {
        expect(changed(cfg(`scratch-${r}-${g}`), cfg(`finetune-${r}-${g}`))).toEqual(['init']);
        expect(cfg(`finetune-${r}-${g}`, 2).init).toEqual({ from: `/runs/pretrain-${r}/seed-2/model`, newHead: true });
        expect(cfg(`finetune-${r}-${g}`).model).toEqual(cfg(`pretrain-${r}`).model);
      }
    }
    // 'all': rung 0 at E epochs on every target image; 'few': 50 per class, batch 25, 2E epochs (milestones at 50%, 75%).
    expect(changed(rungConfig('0', { epochs: E, seed: 0 }), cfg('scratch-0-all'))).toEqual(['data']);
    expect(cfg('scratch-0-all').data).toEqual(target());
    const few = cfg('scratch-7-few');
    expect(few.data).toEqual(target(50));
    expect([few.epochs, few.batchSize, few.schedule.milestones]).toEqual([2 * E, 25, [E, 1.5 * E]]);
    expect(few.labelSmoothing ?? few.mixup ?? few.distillation).toBeUndefined();
  });

  it('names arms and refuses unknown ones', () => {
    expect(parseArm('finetune-7-few')).toEqual({ kind: 'finetune', recipe: '7', regime: 'few' });
    expect(() => parseArm('finetune-7-most')).toThrow(/unknown arm 'finetune-7-most'/);
    expect(() => parseArm('pretrain-9')).toThrow(/unknown rung '9'/);
  });
});
