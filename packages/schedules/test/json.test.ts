import { describe, expect, it } from 'vitest';
import {
  constant,
  cosine,
  exponential,
  linearWarmup,
  scheduleFromJSON,
  sequence,
  stepDecay,
  toJSON,
  warmupCosine,
  warmupStepDecay,
  type ScheduleJSON,
} from '../src/index';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('JSON form', () => {
  const schedules = {
    constant: constant(0.3),
    stepDecay: stepDecay({ base: 0.1, milestones: [3, 6, 9], gamma: 0.2 }),
    exponential: exponential({ base: 0.1, gamma: 0.95 }),
    cosine: cosine({ base: 0.1, totalSteps: 20, floor: 0.001 }),
    linearWarmup: linearWarmup({ steps: 4, from: 0.01, to: 0.2 }),
    sequence: sequence([{ schedule: constant(1), steps: 2 }, { schedule: cosine({ base: 1, totalSteps: 5 }), steps: 5 }, { schedule: constant(0) }]),
    warmupCosine: warmupCosine({ base: 0.4, warmupEpochs: 1, epochs: 4, stepsPerEpoch: 5, floor: 1e-5 }),
    warmupStepDecay: warmupStepDecay({ base: 0.4, warmupEpochs: 1, milestonesEpochs: [2, 3], stepsPerEpoch: 5 }),
  };

  it('has the documented shape', () => {
    expect(toJSON(schedules.cosine)).toEqual({ kind: 'cosine', base: 0.1, totalSteps: 20, floor: 0.001 });
    expect(toJSON(schedules.warmupCosine)).toEqual({
      kind: 'warmupThen',
      warmup: { kind: 'linearWarmup', steps: 5, from: 0, to: 0.4 },
      then: { kind: 'cosine', base: 0.4, totalSteps: 15, floor: 1e-5 },
    });
    // JSON.stringify works on the schedule itself.
    expect(JSON.parse(JSON.stringify({ lr: schedules.stepDecay }))).toEqual({
      lr: { kind: 'stepDecay', base: 0.1, milestones: [3, 6, 9], gamma: 0.2 },
    });
  });

  it('round-trips every kind, step for step (a resumed run continues on the same curve)', () => {
    for (const [name, s] of Object.entries(schedules)) {
      const text = JSON.stringify(toJSON(s));
      const back = scheduleFromJSON(JSON.parse(text));
      expect(range(40).map(back), name).toEqual(range(40).map(s));
      expect(toJSON(back), name).toEqual(toJSON(s));
      // Resume at step k from the serialised form: the same values from k on.
      const resumed = scheduleFromJSON(text);
      expect(range(40).slice(17).map(resumed), name).toEqual(range(40).slice(17).map(s));
    }
  });

  it('the JSON returned is a copy, so editing it does not change the schedule', () => {
    const j = toJSON(schedules.stepDecay) as Extract<ScheduleJSON, { kind: 'stepDecay' }>;
    j.milestones.push(1);
    expect(toJSON(schedules.stepDecay)).toEqual({ kind: 'stepDecay', base: 0.1, milestones: [3, 6, 9], gamma: 0.2 });
  });

  it('throws clearly on unknown kinds, unknown or missing fields and bad values', () => {
    expect(() => scheduleFromJSON({ kind: 'cosin', base: 1 })).toThrow(/"cosin", which is not a schedule kind; known kinds: constant, stepDecay/);
    expect(() => scheduleFromJSON({ base: 1 })).toThrow(/schedule.kind is undefined/);
    expect(() => scheduleFromJSON(null)).toThrow(/must be an object/);
    expect(() => scheduleFromJSON({ kind: 'cosine', base: 1, totalSteps: 5, flor: 0 })).toThrow(/unknown field 'flor'/);
    expect(() => scheduleFromJSON({ kind: 'cosine', base: 1 })).toThrow(/missing the field 'totalSteps'/);
    expect(() => scheduleFromJSON({ kind: 'cosine', base: 1, totalSteps: -3 })).toThrow(/at schedule: cosine: totalSteps must be an integer >= 1, got -3/);
    expect(() => scheduleFromJSON({ kind: 'cosine', base: '0.1', totalSteps: 3 })).toThrow(/base must be a finite number/);
    expect(() =>
      scheduleFromJSON({ kind: 'sequence', parts: [{ schedule: { kind: 'constant', value: 1 }, steps: 2 }, { schedule: { kind: 'cosine', base: 1, totalSteps: 0 } }] }),
    ).toThrow(/at schedule.parts\[1\].schedule: cosine: totalSteps/);
    expect(() => scheduleFromJSON({ kind: 'warmupThen', warmup: { kind: 'constant', value: 1 }, then: { kind: 'constant', value: 1 } })).toThrow(
      /schedule.warmup must have kind 'linearWarmup'/,
    );
  });

  it('refuses to serialise plain functions', () => {
    expect(() => toJSON((t: number) => t)).toThrow(/plain function/);
    const mixed = sequence([{ schedule: (t: number) => t, steps: 2 }, { schedule: constant(1) }]);
    expect(mixed(1)).toBe(1);
    expect(() => toJSON(mixed)).toThrow(/plain function/);
  });
});
