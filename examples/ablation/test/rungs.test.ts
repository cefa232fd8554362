import { describe, expect, it } from 'vitest';
import { parseConfig, peakLearningRate } from '@bag-of-tricks/trainer';
// @ts-expect-error -- a plain .mjs module without types
import { MIXUP_EPOCH_FACTOR, orderRungs, RUNG_IDS, RUNGS, rungConfig, teacherConfig } from '../rungs.mjs';

type Config = Record<string, any>;
const E = 20;
const cfg = (id: string, seed = 0): Config => rungConfig(id, { epochs: E, seed, teacherPath: '/t/model' });
/** The fields in which two configs differ (deep-compared as JSON). */
const changed = (a: Config, b: Config): string[] =>
  [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).sort();

describe('the ladder rungs (rungs.mjs)', () => {
  it('every rung is a valid trainer config', () => {
    for (const id of RUNG_IDS) expect(() => parseConfig(cfg(id), `rung ${id}`)).not.toThrow();
    expect(() => parseConfig(teacherConfig({ epochs: E }))).not.toThrow();
  });

  it('rung 0 is the paper baseline scaled down: ResNet-A, batch 128, lr 0.1, x0.1 at 50% and 75%, wd 1e-4 on all, Xavier, NAG', () => {
    const c = parseConfig(cfg('0'));
    expect(c.model).toEqual({ name: 'resnet20', options: { zeroGamma: false, initializer: 'xavierUniform' } });
    expect(c.batchSize).toBe(128);
    expect(peakLearningRate(c)).toBeCloseTo(0.1, 12);
    expect(c.schedule).toEqual({ kind: 'step', milestones: [10, 15], gamma: 0.1 });
    expect(c.warmupEpochs).toBe(0);
    expect([c.weightDecay, c.noBiasDecay]).toEqual([1e-4, false]);
    expect(c.optimizer).toEqual({ kind: 'nag', momentum: 0.9 });
    expect(c.data).toEqual({ source: 'embedded', eval: { source: 'idx', dir: '/usr/share/datasets/fashion-mnist' } });
    expect(c.labelSmoothing ?? c.mixup ?? c.distillation).toBeUndefined();
  });

  it('each rung changes only its own trick against the rung it builds on', () => {
    expect(changed(cfg('0'), cfg('1'))).toEqual(['batchSize', 'model', 'noBiasDecay', 'warmupEpochs']);
    const c1 = parseConfig(cfg('1'));
    expect(peakLearningRate(c1)).toBeCloseTo(0.2, 12); // linear scaling: 0.1 x 256 / 128
    expect(Math.floor(6000 / c1.batchSize)).toBeGreaterThanOrEqual(20); // at least 20 steps per epoch
    expect(c1.warmupEpochs).toBeCloseTo(0.05 * E, 12);
    expect(c1.model.options).toMatchObject({ zeroGamma: true });
    expect(changed(cfg('1'), cfg('2'))).toEqual(['model']);
    expect(cfg('2').model.options).toMatchObject({ avgDown: true });
    expect(changed(cfg('2'), cfg('3'))).toEqual(['schedule']);
    expect(cfg('3').schedule).toEqual({ kind: 'cosine', floor: 0 });
    expect(changed(cfg('3'), cfg('4'))).toEqual(['labelSmoothing']);
    expect(cfg('4').labelSmoothing).toEqual({ epsilon: 0.1, form: 'paper' });
    expect(cfg('4u').labelSmoothing).toEqual({ epsilon: 0.1, form: 'uniform' });
    expect(changed(cfg('4'), cfg('5'))).toEqual(['distillation']);
    expect(cfg('5').distillation).toEqual({ teacher: '/t/model', temperature: 20, form: 'paper', cache: true });
    // The control trains 1.6x as long (32 epochs here), warmup scaled alike; mixup adds only mixup to it.
    expect(changed(cfg('4'), cfg('4L'))).toEqual(['epochs', 'warmupEpochs']);
    expect(cfg('4L').epochs).toBe(Math.round(E * MIXUP_EPOCH_FACTOR));
    expect(changed(cfg('4L'), cfg('6'))).toEqual(['mixup']);
    expect(changed(cfg('6'), cfg('7'))).toEqual(['distillation']);
    expect(cfg('7').distillation.cache).toBe(false); // the teacher must see the mixed images
  });

  it('seeds change only the seed; the teacher is ResNet-56-D with rung 4 recipe at batch 128 (linear scaling: half the lr)', () => {
    expect(changed(cfg('3', 0), cfg('3', 2))).toEqual(['seed']);
    const t = teacherConfig({ epochs: E });
    expect(changed(cfg('4'), t)).toEqual(['batchSize', 'model']);
    expect(t.model).toEqual({ name: 'resnet56', options: { ...cfg('4').model.options } });
    expect(t.batchSize).toBe(128);
    expect(peakLearningRate(parseConfig(t))).toBeCloseTo(peakLearningRate(parseConfig(cfg('4'))) / 2, 12);
  });

  it('runs the rungs that need the teacher last, and names a paper number for every main rung', () => {
    expect(orderRungs(['7', '0', '5', '6', '1'])).toEqual(['0', '1', '6', '5', '7']);
    for (const r of RUNGS.filter((x: Config) => x.main)) expect(typeof r.paper).toBe('number');
  });
});
