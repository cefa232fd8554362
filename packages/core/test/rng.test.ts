import { describe, expect, it } from 'vitest';
import { createRng, rngFromState } from '../src/index';

function moments(xs: number[]): { mean: number; variance: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
  return { mean, variance };
}
const draw = (n: number, f: () => number) => Array.from({ length: n }, f);

/**
 * Tolerances from the sample size: over n draws the sample mean has standard error sqrt(var / n) and the
 * sample variance sqrt((mu4 - var^2) / n) (mu4: the fourth central moment, known in closed form for each
 * distribution below). Five standard errors: a correct sampler fails with probability < 1e-6 per check
 * (and the seeds are fixed), while a bias of a few standard errors (well under 1%) is caught.
 */
function expectMoments(xs: number[], { mean, variance, mu4 }: { mean: number; variance: number; mu4: number }, z = 5): void {
  const n = xs.length;
  const m = moments(xs);
  const seMean = Math.sqrt(variance / n);
  const seVariance = Math.sqrt((mu4 - variance * variance) / n);
  expect(Math.abs(m.mean - mean), `mean ${m.mean} vs ${mean} (se ${seMean.toExponential(2)})`).toBeLessThan(z * seMean);
  expect(Math.abs(m.variance - variance), `variance ${m.variance} vs ${variance} (se ${seVariance.toExponential(2)})`).toBeLessThan(z * seVariance);
}

/** Beta(a, b): mean a/(a+b), variance ab/((a+b)^2(a+b+1)), mu4 = (3 + excess kurtosis) var^2. */
function betaMoments(a: number, b: number) {
  const s = a + b;
  const variance = (a * b) / (s * s * (s + 1));
  const excess = (6 * ((a - b) ** 2 * (s + 1) - a * b * (s + 2))) / (a * b * (s + 2) * (s + 3));
  return { mean: a / s, variance, mu4: (3 + excess) * variance * variance };
}

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
    expect(xs.every((x) => x >= 2 && x < 5)).toBe(true);
    // U(a, b): mu4 = (b - a)^4 / 80
    expectMoments(xs, { mean: 3.5, variance: 9 / 12, mu4: 81 / 80 });
  });

  it('normal(mean, std) has the right moments', () => {
    const rng = createRng(2);
    // N(mu, s^2): mu4 = 3 s^4
    expectMoments(draw(200_000, () => rng.normal(1, 0.1)), { mean: 1, variance: 0.01, mu4: 3e-4 });
  });

  it('gamma(k, θ) has mean kθ and variance kθ², also for k < 1', () => {
    const rng = createRng(3);
    for (const [k, theta] of [[0.2, 1], [2.5, 2]] as const) {
      // Gamma(k, θ): excess kurtosis 6/k, so mu4 = (3 + 6/k) k^2 θ^4
      const variance = k * theta * theta;
      expectMoments(draw(200_000, () => rng.gamma(k, theta)), { mean: k * theta, variance, mu4: (3 + 6 / k) * variance * variance });
    }
  });

  it('beta(0.2, 0.2) has mean 1/2 and variance α²/((2α)²(2α+1)) = 0.1786; an asymmetric beta(0.5, 2) has mean a/(a+b)', () => {
    const rng = createRng(4);
    const n = 400_000;
    const xs = draw(n, () => rng.beta(0.2, 0.2));
    expect(xs.every((x) => x >= 0 && x <= 1)).toBe(true);
    const sym = betaMoments(0.2, 0.2);
    expect(sym.variance).toBeCloseTo(0.04 / (0.16 * 1.4), 12);
    // mean to within 5 * sqrt(0.1786 / 4e5) = 0.0033 (was a bare ±0.005); variance to 5 * 1.4e-4
    expectMoments(xs, sym);
    // Symmetry hides a swapped x/(x+y): Beta(0.5, 2) has mean 0.2 and Beta(2, 0.5) 0.8.
    expectMoments(draw(n, () => rng.beta(0.5, 2)), betaMoments(0.5, 2));
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
