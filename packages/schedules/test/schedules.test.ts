import { describe, expect, it } from 'vitest';
import {
  constant,
  cosine,
  epochsToSteps,
  exponential,
  join,
  linearScaledLr,
  linearWarmup,
  sequence,
  stepDecay,
  warmupCosine,
  warmupStepDecay,
  warmupThen,
} from '../src/index';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
/** Relative closeness for values computed by a different but equivalent formula. */
const close = (a: number, e: number): void => expect(Math.abs(a - e)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(e)));

describe('closed forms, every step', () => {
  it('constant', () => {
    const s = constant(0.05);
    for (const t of range(50)) expect(s(t)).toBe(0.05);
  });

  it('stepDecay: 0.1 divided by 10 at 30, 60, 90 (PyTorch MultiStepLR convention: decayed from the milestone on)', () => {
    const s = stepDecay({ base: 0.1, milestones: [30, 60, 90], gamma: 0.1 });
    for (const t of range(120)) {
      const hand = t < 30 ? 0.1 : t < 60 ? 0.01 : t < 90 ? 0.001 : 0.0001;
      close(s(t), hand);
    }
    expect(s(29)).toBe(0.1);
    close(s(30), 0.01);
  });

  it('exponential: base * gamma^t', () => {
    const s = exponential({ base: 0.2, gamma: 0.9 });
    let hand = 0.2;
    for (const t of range(100)) {
      close(s(t), hand);
      hand *= 0.9;
    }
  });

  it('cosine: floor + (base - floor)/2 (1 + cos(pi t / (T - 1))), t = 0..T-1', () => {
    const T = 37;
    const s = cosine({ base: 0.4, totalSteps: T, floor: 0.004 });
    for (const t of range(T)) close(s(t), 0.004 + 0.5 * (0.4 - 0.004) * (1 + Math.cos((Math.PI * t) / (T - 1))));
    expect(s(0)).toBe(0.4);
    expect(s(T - 1)).toBe(0.004);
    close(s((T - 1) / 2), (0.4 + 0.004) / 2); // the midpoint is the mean
    // Past the end it holds the floor instead of swinging back up.
    for (const t of [T, T + 1, 10 * T]) expect(s(t)).toBe(0.004);
  });

  it('cosine with T = 1 and T = 2', () => {
    expect(cosine({ base: 1, totalSteps: 1, floor: 0.5 })(0)).toBe(0.5);
    const two = cosine({ base: 1, totalSteps: 2 });
    expect([two(0), two(1)]).toEqual([1, 0]);
  });

  it('linearWarmup: from + (to - from)(t + 1)/W, ends exactly at the peak on step W - 1', () => {
    const W = 7;
    const s = linearWarmup({ steps: W, from: 0.01, to: 0.4 });
    for (const t of range(W)) close(s(t), 0.01 + ((0.4 - 0.01) * (t + 1)) / W);
    expect(s(W - 1)).toBe(0.4);
    expect(s(W)).toBe(0.4);
    const fromZero = linearWarmup({ steps: 4, to: 0.1 });
    [0.025, 0.05, 0.075, 0.1].forEach((hand, t) => close(fromZero(t), hand));
    // The peak is exact for awkward values too, where from + (to - from) * 1 rounds differently.
    for (const [from, to] of [[0.1, 0.3], [0.07, 0.9], [1e-3, 0.123456789]] as const) {
      expect(linearWarmup({ steps: 3, from, to })(2)).toBe(to);
    }
  });
});

describe('warmup then cosine (the paper, per iteration)', () => {
  const base = 0.1;
  const stepsPerEpoch = 13;
  const N = 12 * stepsPerEpoch; // 12 epochs
  const W = 5 * stepsPerEpoch; // 5 warmup epochs
  const s = warmupThen(linearWarmup({ steps: W, to: base }), cosine({ base, totalSteps: N - W, floor: 1e-4 }));

  it('peaks at the end of warmup and reaches the floor exactly on the last step of training', () => {
    expect(s(W - 1)).toBe(base);
    expect(s(W)).toBe(base);
    expect(s(N - 1)).toBe(1e-4);
    expect(s(N - 2)).toBeGreaterThan(1e-4);
    // Monotone up to the peak, then monotone down.
    for (const t of range(W - 1)) expect(s(t + 1)).toBeGreaterThan(s(t));
    for (const t of range(N - 1).slice(W)) expect(s(t + 1)).toBeLessThan(s(t));
  });

  it('every step equals the closed form', () => {
    for (const t of range(N)) {
      const hand = t < W ? (base * (t + 1)) / W : 1e-4 + 0.5 * (base - 1e-4) * (1 + Math.cos((Math.PI * (t - W)) / (N - W - 1)));
      close(s(t), hand);
    }
  });

  it('warmupCosine builds the same schedule from epochs', () => {
    const e = warmupCosine({ base, floor: 1e-4, warmupEpochs: 5, epochs: 12, stepsPerEpoch });
    for (const t of range(N + 3)) expect(e(t)).toBe(s(t));
    expect(e(N - 1)).toBe(1e-4);
    const noWarmup = warmupCosine({ base, epochs: 3, stepsPerEpoch: 10 });
    expect([noWarmup(0), noWarmup(29)]).toEqual([base, 0]);
  });
});

describe('composition and purity', () => {
  it('sequence: each part counts its own steps; join is the same composer', () => {
    const s = sequence([
      { schedule: constant(1), steps: 3 },
      { schedule: exponential({ base: 8, gamma: 0.5 }), steps: 2 },
      { schedule: constant(7) },
    ]);
    expect(range(8).map(s)).toEqual([1, 1, 1, 8, 4, 7, 7, 7]);
    expect(join).toBe(sequence);
  });

  it('the value at step t does not depend on how the run was split', () => {
    const s = warmupCosine({ base: 0.4, floor: 0, warmupEpochs: 2, epochs: 9, stepsPerEpoch: 11 });
    const oneGo = range(99).map(s);
    for (const chunk of [1, 7, 10, 50]) {
      const pieces: number[] = [];
      for (let start = 0; start < 99; start += chunk) {
        for (let t = start; t < Math.min(99, start + chunk); t++) pieces.push(s(t));
      }
      expect(pieces).toEqual(oneGo);
    }
    // Reversed and random-access evaluation gives the same values: no hidden state.
    expect(range(99).reverse().map(s).reverse()).toEqual(oneGo);
  });

  it('warmupStepDecay: milestones stay counted from the start of training', () => {
    const s = warmupStepDecay({ base: 0.4, milestonesEpochs: [30, 60, 90], warmupEpochs: 5, stepsPerEpoch: 2 });
    close(s(9), 0.4);
    close(s(59), 0.4);
    close(s(60), 0.04);
    close(s(119), 0.04);
    close(s(120), 0.004);
    close(s(180), 0.0004);
    close(s(0), 0.04);
    const plain = warmupStepDecay({ base: 0.1, milestonesEpochs: [30], stepsPerEpoch: 3 });
    expect([plain(89), plain(90)]).toEqual([0.1, 0.1 * 0.1]);
  });

  it('epochsToSteps and linearScaledLr', () => {
    expect(epochsToSteps(5, 5005)).toBe(25025);
    expect(epochsToSteps(0.5, 3)).toBe(2);
    expect(linearScaledLr(0.1, 1024)).toBeCloseTo(0.4, 15);
    expect(linearScaledLr(0.1, 128)).toBe(0.05);
    expect(linearScaledLr(0.1, 100, 50)).toBe(0.2);
  });
});

describe('guards', () => {
  it('refuses bad steps', () => {
    const s = cosine({ base: 0.1, totalSteps: 10 });
    expect(() => s(-1)).toThrow(/non-negative integer/);
    expect(() => s(1.5)).toThrow(/non-negative integer/);
    expect(() => s(Number.NaN)).toThrow(/non-negative integer/);
    expect(() => warmupCosine({ base: 1, epochs: 2, stepsPerEpoch: 2, warmupEpochs: 1 })(-2)).toThrow(/warmupThen: step/);
  });

  it('refuses bad options with messages that name the field', () => {
    expect(() => cosine({ base: 0.1, totalSteps: 0 })).toThrow(/cosine: totalSteps must be an integer >= 1, got 0/);
    expect(() => cosine({ base: 0.1, totalSteps: 2.5 })).toThrow(/totalSteps/);
    expect(() => cosine({ base: 0.1, totalSteps: 10, floor: 0.2 })).toThrow(/floor \(0.2\) must not exceed base/);
    expect(() => cosine({ base: -1, totalSteps: 10 })).toThrow(/cosine: base must be a finite number >= 0/);
    expect(() => linearWarmup({ steps: 0, to: 1 })).toThrow(/linearWarmup: steps/);
    expect(() => stepDecay({ base: 0.1, milestones: [30, 30] })).toThrow(/strictly increasing/);
    expect(() => stepDecay({ base: 0.1, milestones: [-1] })).toThrow(/milestones\[0\]/);
    expect(() => stepDecay({ base: 0.1, milestones: [1], gamma: 0 })).toThrow(/gamma must be a finite number > 0/);
    expect(() => exponential({ base: 0.1, gamma: Number.POSITIVE_INFINITY })).toThrow(/gamma/);
    expect(() => constant(Number.NaN)).toThrow(/constant: value/);
    expect(() => sequence([])).toThrow(/at least one part/);
    expect(() => sequence([{ schedule: constant(1) }, { schedule: constant(2) }])).toThrow(/parts\[0\]\.steps/);
    expect(() => warmupThen(constant(1) as never, constant(1))).toThrow(/must come from linearWarmup/);
    expect(() => warmupCosine({ base: 1, warmupEpochs: 5, epochs: 5, stepsPerEpoch: 10 })).toThrow(/must exceed warmupEpochs/);
    expect(() => warmupStepDecay({ base: 1, warmupEpochs: 5, milestonesEpochs: [3], stepsPerEpoch: 10 })).toThrow(/inside the 5-epoch warmup/);
    expect(() => epochsToSteps(3, 0)).toThrow(/stepsPerEpoch/);
    expect(() => linearScaledLr(0.1, 0)).toThrow(/batchSize/);
  });
});
