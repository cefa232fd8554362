import { describe, expect, it } from 'vitest';
import { learningRateSchedule, parseConfig, peakLearningRate } from '../src';

describe('learningRateSchedule', () => {
  it('linear scaling: lr = baseLr * batch / 256, or baseLr when disabled', () => {
    expect(peakLearningRate(parseConfig({ model: { name: 'resnet20' }, epochs: 1, batchSize: 1024 }))).toBeCloseTo(0.4, 12);
    expect(peakLearningRate(parseConfig({ model: { name: 'resnet20' }, epochs: 1, batchSize: 1024, linearScaling: false }))).toBe(0.1);
  });

  it('warmup then step decay at epoch milestones, per iteration', () => {
    const c = parseConfig({ model: { name: 'resnet20' }, epochs: 6, batchSize: 256, warmupEpochs: 1, schedule: { kind: 'step', milestones: [3, 5] } });
    const s = learningRateSchedule(c, 10);
    expect(s(0)).toBeCloseTo(0.1 / 10, 12); // warmup reaches the peak on its last step (step 9)
    expect(s(9)).toBeCloseTo(0.1, 12);
    expect(s(29)).toBeCloseTo(0.1, 12);
    expect(s(30)).toBeCloseTo(0.01, 12);
    expect(s(50)).toBeCloseTo(0.001, 12);
  });

  it('warmup then cosine ends exactly at the floor on the last step', () => {
    const c = parseConfig({ model: { name: 'resnet20' }, epochs: 4, batchSize: 128, warmupEpochs: 1, schedule: { kind: 'cosine', floor: 0.001 } });
    const s = learningRateSchedule(c, 25);
    expect(s(24)).toBeCloseTo(0.05, 12);
    expect(s(99)).toBeCloseTo(0.001, 12);
    for (let t = 25; t < 99; t++) expect(s(t + 1)).toBeLessThanOrEqual(s(t));
  });
});
