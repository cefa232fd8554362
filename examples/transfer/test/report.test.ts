import { describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain .mjs module without types
import { renderMarkdown } from '../report.mjs';

const rec = (rung: string, seed: number, top1: number, epochs = 20) => ({
  rung,
  seed,
  final: { top1, top5: 1, loss: 0.3 },
  epochs: [{ epoch: 1, top1, top5: 1, loss: 0.3, seconds: 100 }],
  seconds: 600,
  backend: 'wasm',
  workers: 1,
  config: { epochs, model: { name: 'resnet20', options: {} }, data: { source: 'embedded', classes: [5, 6, 7, 8, 9], eval: { source: 'idx', dir: '/d' } } },
  machine: { cpu: 'test cpu' },
});
const arm = (id: string, top1s: number[]) => top1s.map((t, i) => rec(id, i, t));

describe('transfer report.mjs (numbers worked by hand)', () => {
  const results = {
    'pretrain-0': arm('pretrain-0', [0.9, 0.91, 0.92]),
    'pretrain-7': arm('pretrain-7', [0.93, 0.94, 0.95]),
    'scratch-0-few': arm('scratch-0-few', [0.8, 0.82, 0.84]),
    'finetune-0-few': arm('finetune-0-few', [0.85, 0.87, 0.89]),
    'scratch-0-all': arm('scratch-0-all', [0.9, 0.92, 0.94]),
    'finetune-0-all': arm('finetune-0-all', [0.91, 0.93, 0.95]),
    'finetune-7-few': arm('finetune-7-few', [0.86, 0.88, 0.9]),
  };
  const md: string = renderMarkdown(results, { date: '2026-01-01', command: 'node report.mjs' });
  const row = (start: string, regime: string) => md.split('\n').find((l) => l.startsWith(start) && l.includes(regime))!;

  it('pretrained against scratch: mean ± std, Δ ± se and the verdict at 2 se', () => {
    // Δ = 5.00 points; se = 100 · sqrt(0.02²/3 + 0.02²/3) = 1.633; 5.00 > 3.27: helps.
    expect(row('| rung 0:', '50 images')).toContain('| 82.00 ± 2.00 (3) | 87.00 ± 2.00 (3) | +5.00 (± 1.63) | helps | 80.00, 82.00, 84.00 | 85.00, 87.00, 89.00 |');
    // Δ = 1.00 < 3.27: within noise.
    expect(row('| rung 0:', 'every image')).toContain('| 92.00 ± 2.00 (3) | 93.00 ± 2.00 (3) | +1.00 (± 1.63) | within noise |');
  });

  it('the last recipe against rung 0: source-task Δ and fine-tuned Δ; compute from the seconds', () => {
    // Source: 94 − 91 = +3.00, se = 100 · sqrt(0.01²/3 · 2) = 0.816. Fine-tuned few: 88 − 87 = +1.00 (± 1.63).
    expect(row('| rung 7 |', '50 images')).toBe('| rung 7 | 50 images per class | 94.00 ± 1.00 (3) | +3.00 (± 0.82) | 88.00 ± 2.00 (3) | +1.00 (± 1.63) | within noise |');
    expect(md).toContain('Compute: 3.5 h'); // 21 runs x 600 s
    expect(md).toContain('the 5,000 images of the task');
  });
});
