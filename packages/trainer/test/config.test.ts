import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../src/config';

describe('parseConfig', () => {
  it('fills the documented defaults', () => {
    const c = parseConfig({ model: { name: 'resnet18d' }, epochs: 2 });
    expect(c.optimizer).toEqual({ kind: 'nag', momentum: 0.9 });
    expect(c).toMatchObject({ batchSize: 128, baseLr: 0.1, linearScaling: true, weightDecay: 1e-4, noBiasDecay: false, seed: 0, workers: 1, parallel: 'data' });
    expect(c.schedule).toEqual({ kind: 'cosine', floor: 0 });
    expect(c.data).toEqual({ source: 'embedded' });
    expect(c.checkpoint).toEqual({ every: 0, keep: 3 });
  });

  it('names every bad field and what is allowed', () => {
    let err: ConfigError | undefined;
    try {
      parseConfig(
        { model: { name: 'resnet18d' }, epochs: 'two', optimizer: { kind: 'rmsprop' }, lr: 3, labelSmoothing: { form: 'x' }, data: { source: 'idx' } },
        'my.json',
      );
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = err!.message;
    expect(msg).toContain('my.json');
    expect(msg).toMatch(/epochs: expected number, got "two"/);
    expect(msg).toMatch(/optimizer\.kind: got "rmsprop"; allowed: 'nag' \| 'sgd' \| 'adam'/);
    expect(msg).toMatch(/unknown field\(s\) 'lr'/);
    expect(msg).toMatch(/labelSmoothing\.form: got "x"; allowed: "paper", "uniform"/);
    expect(msg).toMatch(/data\.dir: expected string \(required, missing\)/);
  });

  it('checks cross-field rules', () => {
    expect(() => parseConfig({ model: { name: 'resnet20' }, epochs: 2, mixup: {}, cutmix: {} })).toThrow(/cutmix: mixup and cutmix are exclusive/);
    expect(() => parseConfig({ model: { name: 'resnet20' }, epochs: 2, cutmix: { offEpochs: 3 } })).toThrow(/cutmix\.offEpochs: must be at most epochs \(2\) \(got 3\)$/m);
    expect(() => parseConfig({ model: { name: 'resnet20' }, epochs: 2, mixup: { offEpochs: 3 } })).toThrow(/mixup\.offEpochs: must be at most epochs \(2\)/);
    // The defaults come from augment's MIXUP_DEFAULTS / CUTMIX_DEFAULTS: the paper's 0.2 and CutMix's 1.
    expect(parseConfig({ model: { name: 'resnet20' }, epochs: 2, mixup: {} }).mixup?.alpha).toBe(0.2);
    expect(parseConfig({ model: { name: 'resnet20' }, epochs: 2, cutmix: {} }).cutmix?.alpha).toBe(1);
    expect(() => parseConfig({ model: { name: 'resnet20' }, epochs: 2, mixup: {}, distillation: { teacher: 't', cache: true } })).toThrow(
      /distillation\.cache: cached teacher logits cannot follow mixed images/,
    );
    expect(() => parseConfig({ model: { name: 'resnet20' }, epochs: 2, batchSize: 4, workers: 5 })).toThrow(
      /workers: 5 data-parallel replicas need a batch of at least 5 images \(batchSize is 4\); lower workers or raise batchSize/,
    );
    expect(parseConfig({ model: { name: 'resnet20' }, epochs: 2, batchSize: 4, workers: 5, parallel: 'threads' }).workers).toBe(5);
    expect(() => parseConfig({ model: { name: 'resnet20' }, epochs: 2, workers: 2, backend: 'tensorflow' })).toThrow(
      /parallel: data-parallel replicas run on wasm or cpu; tfjs-node already uses every core/,
    );
    expect(() => parseConfig({ model: { name: 'resnet20' }, epochs: 2, parallel: 'processes' })).toThrow(/parallel: got "processes"; allowed: "data", "threads"/);
    expect(() => parseConfig({ model: { name: 'resnet20' }, epochs: 2, schedule: { kind: 'step', milestones: ['a'] } })).toThrow(
      /schedule\.milestones\[0\]: expected number/,
    );
  });
});
