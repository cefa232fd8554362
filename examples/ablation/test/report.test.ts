import { describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain .mjs module without types
import { compare, parity, pilotLines, renderMarkdown, renderWhy, stats } from '../report.mjs';

const rec = (rung: string, seed: number, top1: number) => ({
  rung,
  seed,
  final: { top1, top5: 0.99, loss: 0.3 },
  epochs: [{ epoch: 1, top1, top5: 0.99, loss: 0.3, seconds: 100 }],
  seconds: 1800,
  backend: 'wasm',
  workers: 2,
  config: { epochs: 1 },
  machine: { cpu: 'test cpu' },
});

describe('report.mjs numbers (worked by hand)', () => {
  it('mean and sample standard deviation', () => {
    const s = stats([0.9, 0.92, 0.94]);
    expect(s.n).toBe(3);
    expect(s.mean).toBeCloseTo(0.92, 12);
    expect(s.std).toBeCloseTo(0.02, 12); // sqrt((0.0004 + 0 + 0.0004) / 2)
    expect(Number.isNaN(stats([0.5]).std)).toBe(true);
  });

  it('Δ with its standard error, and the verdict at 2 se', () => {
    const a = [0.9, 0.92, 0.94].map((t, i) => rec('0', i, t));
    const b = [0.93, 0.95, 0.97].map((t, i) => rec('1', i, t));
    // Δ = 3.00 points; se = 100 · sqrt(0.02²/3 + 0.02²/3) = 1.633: 3.00 < 2 se = 3.27, so within noise.
    const d = compare(a, b);
    expect(d.delta).toBeCloseTo(3, 10);
    expect(d.se).toBeCloseTo(1.63299, 4);
    expect(d.verdict).toBe('within noise');
    const c = [0.96, 0.98, 1.0].map((t, i) => rec('1', i, t)); // Δ 6.00 > 3.27
    expect(compare(a, c).verdict).toBe('helps');
    expect(compare(c, a).verdict).toBe('hurts');
  });

  it('parity bound: max(2 pooled std, 0.3 points)', () => {
    const ours = [0.9, 0.92, 0.94].map((t, i) => rec('0', i, t));
    const torch = [0.95, 0.97, 0.99].map((t, i) => rec('0', i, t)); // pooled std 2.0 points, bound 4.0; diff −5.0
    expect(parity(ours, torch)).toMatchObject({ ok: false });
    expect(parity(ours, torch).diff).toBeCloseTo(-5, 10);
    expect(parity(ours, torch).bound).toBeCloseTo(4, 10);
    const tight = [0.92, 0.92, 0.92].map((t, i) => rec('0', i, t));
    const near = [0.9225, 0.9225, 0.9225].map((t, i) => rec('0', i, t)); // std 0: the 0.3-point floor decides
    expect(parity(tight, near)).toMatchObject({ ok: true });
    expect(parity(tight, near).bound).toBeCloseTo(0.3, 12);
  });

  it('the table row shows mean ± std, seeds, Δ to the rung below, verdict, the paper Δ and the PyTorch column', () => {
    const ours = { '0': [0.9, 0.92, 0.94].map((t, i) => rec('0', i, t)), '1': [0.93, 0.95, 0.97].map((t, i) => rec('1', i, t)) };
    const torch = { '0': [0.91, 0.92, 0.93].map((t, i) => rec('0', i, t)) };
    const md: string = renderMarkdown(ours, torch, { date: '2026-01-01', command: 'node report.mjs' });
    const row0 = md.split('\n').find((l) => l.startsWith('| **0** |'))!;
    expect(row0).toContain('| 92.00 ± 2.00 (3) | 90.00, 92.00, 94.00 |');
    expect(row0).toContain('| 75.87 (reference 75.30) | 92.00 ± 1.00 (3) | +0.00 (3.16) ok |'); // pooled sqrt((4+1)/2)
    const row1 = md.split('\n').find((l) => l.startsWith('| **1** |'))!;
    expect(row1).toContain('| +3.00 vs 0 (± 1.63) | within noise | +0.34 (75.87 → 76.21) |');
    expect(md).toContain('Compute: 3.0 h'); // 6 runs x 1800 s
  });

  it('explains a rung that hurts, worked from its config, and says nothing for one that helps', () => {
    const at = (config: object, r: ReturnType<typeof rec>) => ({ ...r, config });
    const ours = {
      '0': [0.87, 0.88, 0.89].map((t, i) => at({ batchSize: 128, epochs: 20 }, rec('0', i, t))),
      '1': [0.84, 0.85, 0.86].map((t, i) => at({ batchSize: 256, epochs: 20, warmupEpochs: 1 }, rec('1', i, t))),
      '2': [0.9, 0.91, 0.92].map((t, i) => at({ batchSize: 256, epochs: 20 }, rec('2', i, t))),
    };
    const md: string = renderWhy(ours);
    // floor(6000 / 256) = 23 updates per epoch, x 20 = 460; floor(6000 / 128) = 46, x 20 = 920; a 1-epoch warmup = 23
    expect(md).toContain('**Rung 1 (hurts).**');
    expect(md).toContain('23 updates per epoch, 460 in all, against the baseline\'s 920');
    expect(md).toContain('warmup spends 23 of them');
    expect(md).not.toContain('Rung 2'); // +6.00 ± 0.82 over rung 1: helps
    expect(md).toContain('not run apart');
    // With side row 1b (the batch alone) run: the two halves of rung 1, each Δ ± se worked by hand
    // (se = 100·sqrt(0.01²/3 + 0.01²/3) = 0.82).
    const batchOnly = (rung: string, t: number[]) => t.map((v, i) => at({ batchSize: 256, epochs: 20, warmupEpochs: 1 }, rec(rung, i, v)));
    const withHalves: string = renderWhy({ ...ours, '1b': batchOnly('1b', [0.84, 0.85, 0.86]) });
    expect(withHalves).toContain(
      'its side rows split it: the batch and its warmup (1b − 0) −3.00 ± 0.82 (hurts); zero-γ and no bias decay (1 − 1b) +0.00 ± 0.82 (within noise). ' +
        'The largest loss is the batch and its warmup. Batch 256 on 6,000 images is 23 updates per epoch',
    );
    // With 1z (1b plus zero-γ) too: three parts, and zero-γ's −2.00 the largest loss here.
    const withThirds: string = renderWhy({ ...ours, '1b': batchOnly('1b', [0.86, 0.87, 0.88]), '1z': batchOnly('1z', [0.84, 0.85, 0.86]) });
    expect(withThirds).toContain(
      'the batch and its warmup (1b − 0) −1.00 ± 0.82 (within noise); zero-γ (1z − 1b) −2.00 ± 0.82 (hurts); no bias decay (1 − 1z) +0.00 ± 0.82 (within noise). ' +
        'The largest loss is zero-γ. Zero-γ starts the last BatchNorm',
    );
    expect(withThirds).toContain('ResNet-20 here gets 460 updates in all.');
  });

  it("a convergence run is set against the ladder's mean at its own budget", () => {
    const at = (epochs: number, r: ReturnType<typeof rec>) => ({ ...r, config: { epochs } });
    const ours = { '0': [0.86, 0.87, 0.88].map((t, i) => at(20, rec('0', i, t))) };
    const lines: string[] = pilotLines({ e40: { '0': [at(40, rec('0', 0, 0.8925))] }, e20: { '4': [at(20, rec('4', 0, 0.85))] } }, ours);
    expect(lines).toEqual([
      '- rung 4, seed 0, 20 epochs: 85.00% (last epochs: 85.00)', // no ladder runs of rung 4 here: nothing to set it against
      "- rung 0, seed 0, 40 epochs: 89.25% (last epochs: 89.25); the ladder's 20 epochs: 87.00% (3 seeds), so +2.25 points at 40",
    ]);
  });
});
