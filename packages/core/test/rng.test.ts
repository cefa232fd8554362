import { describe, expect, it } from 'vitest';
import { createRng, rngFromState } from '../src/index';

function moments(xs: number[]): { mean: number; variance: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
  return { mean, variance };
}
const draw = (n: number, f: () => number) => Array.from({ length: n }, f);

describe('createRng', () => {
  it('gives the same sequence for the same seed and a different one for another seed', () => {
    const a = draw(5, createRng(7).uniform.bind(createRng(7)));
    const r1 = createRng(7);
    const r2 = createRng(7);
    const r3 = createRng(8);
    const s1 = draw(20, () => r1.uniform());
    expect(draw(20, () => r2.uniform())).toEqual(s1);
    expect(draw(20, () => r3.uniform())).not.toEqual(s1);
    expect(a).toHaveLength(5);
  });

  it('uniform(low, high) has mean (a+b)/2 and variance (b-a)^2/12', () => {
    const rng = createRng(1);
    const xs = draw(200_000, () => rng.uniform(2, 5));
    const { mean, variance } = moments(xs);
    expect(xs.every((x) => x >= 2 && x < 5)).toBe(true);
    expect(mean).toBeCloseTo(3.5, 2);
    expect(variance).toBeCloseTo(9 / 12, 2);
  });

  it('normal(mean, std) has the right moments', () => {
    const rng = createRng(2);
    const { mean, variance } = moments(draw(200_000, () => rng.normal(1, 0.1)));
    expect(mean).toBeCloseTo(1, 2);
    expect(Math.sqrt(variance)).toBeCloseTo(0.1, 3);
  });

  it('gamma(k, θ) has mean kθ and variance kθ², also for k < 1', () => {
    const rng = createRng(3);
    for (const [k, theta] of [[0.2, 1], [2.5, 2]] as const) {
      const { mean, variance } = moments(draw(200_000, () => rng.gamma(k, theta)));
      expect(mean).toBeCloseTo(k * theta, 1);
      expect(variance / (k * theta * theta)).toBeCloseTo(1, 1);
    }
  });

  it('beta(0.2, 0.2) has mean 1/2 and variance ab/((a+b)^2(a+b+1)) = 0.1786', () => {
    const rng = createRng(4);
    const xs = draw(200_000, () => rng.beta(0.2, 0.2));
    const { mean, variance } = moments(xs);
    expect(mean).toBeCloseTo(0.5, 2);
    expect(variance).toBeCloseTo((0.2 * 0.2) / (0.4 * 0.4 * 1.4), 2);
    expect(xs.every((x) => x >= 0 && x <= 1)).toBe(true);
  });

  it('int(low, high) covers [low, high) uniformly', () => {
    const rng = createRng(5);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60_000; i++) counts[rng.int(0, 6)] += 1;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(400);
    expect(() => rng.int(3, 3)).toThrow(/low < high/);
  });

  it('permutation is a permutation and shuffle is uniform over positions', () => {
    const rng = createRng(6);
    const p = rng.permutation(100);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const firstCounts = [0, 0, 0, 0];
    for (let i = 0; i < 40_000; i++) firstCounts[rng.permutation(4)[0]!]! += 1;
    for (const c of firstCounts) expect(Math.abs(c - 10_000)).toBeLessThan(400);
  });

  it('forks are independent streams and do not repeat the parent', () => {
    const rng = createRng(9);
    const a = rng.fork();
    const b = rng.fork();
    const sa = draw(50, () => a.uniform());
    const sb = draw(50, () => b.uniform());
    const sp = draw(50, () => rng.uniform());
    expect(sa).not.toEqual(sb);
    expect(sa).not.toEqual(sp);
    // Correlation between two forked streams is near zero.
    const x = draw(50_000, () => a.uniform() - 0.5);
    const y = draw(50_000, () => b.uniform() - 0.5);
    const corr = x.reduce((s, v, i) => s + v * y[i]!, 0) / Math.sqrt(x.reduce((s, v) => s + v * v, 0) * y.reduce((s, v) => s + v * v, 0));
    expect(Math.abs(corr)).toBeLessThan(0.02);
  });

  it('stream keys make (seed, epoch) a pure function', () => {
    const e3 = draw(10, ((r) => () => r.uniform())(createRng(1, 3)));
    const other = createRng(1, 2);
    other.uniform();
    expect(draw(10, ((r) => () => r.uniform())(createRng(1, 3)))).toEqual(e3);
    expect(draw(10, () => other.uniform())).not.toEqual(e3);
  });

  it('state round-trips through JSON and continues the same sequence', () => {
    const rng = createRng(11);
    draw(17, () => rng.normal());
    const saved = JSON.parse(JSON.stringify(rng.getState()));
    const expected = draw(30, () => rng.uniform());
    const restored = rngFromState(saved);
    expect(draw(30, () => restored.uniform())).toEqual(expected);
    expect(() => rngFromState({ algorithm: 'xoroshiro128plus', state: [1] })).toThrow(/rng.getState/);
  });
});
