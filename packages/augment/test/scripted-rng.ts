import { createRng, type Rng } from '@bag-of-tricks/core';

/**
 * A test double: `uniform(a, b)` returns a + f (b - a) and `int(lo, hi)` returns lo + floor(f (hi - lo))
 * for scripted fractions f, and `normal()` returns scripted values; anything else throws.
 */
export function scriptedRng({ fractions = [], normals = [] }: { fractions?: number[]; normals?: number[] }): Rng & {
  used: () => number;
} {
  let fi = 0;
  let ni = 0;
  const nextF = (): number => {
    if (fi >= fractions.length) throw new Error(`scriptedRng: ran out of fractions after ${fi}`);
    return fractions[fi++]!;
  };
  const base = createRng(0);
  return {
    ...base,
    uniform: (a = 0, b = 1) => a + nextF() * (b - a),
    int: (lo: number, hi: number) => lo + Math.floor(nextF() * (hi - lo)),
    normal: (mean = 0, std = 1) => {
      if (ni >= normals.length) throw new Error(`scriptedRng: ran out of normals after ${ni}`);
      return mean + std * normals[ni++]!;
    },
    bernoulli: (p: number) => nextF() < p,
    used: () => fi,
  };
}
