import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus, xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';

type Generator = ReturnType<typeof xoroshiro128plus>;

/** The serialisable state of an {@link Rng}: store it in a checkpoint, restore with {@link rngFromState}. */
export interface RngState {
  readonly algorithm: 'xoroshiro128plus';
  readonly state: readonly number[];
}

/**
 * A seeded random generator. Every random draw in bag-of-tricks goes through one of these,
 * so the same seed gives the same batch, bit for bit. Never `Math.random`.
 */
export interface Rng {
  /** Uniform float in [low, high). */
  uniform(low?: number, high?: number): number;
  /** Gaussian with the given mean and standard deviation. */
  normal(mean?: number, std?: number): number;
  /** Gamma(shape, scale) (Marsaglia–Tsang). */
  gamma(shape: number, scale?: number): number;
  /** Beta(a, b), as X/(X+Y) of two gammas. */
  beta(a: number, b: number): number;
  /** Integer uniform in [low, high) (numpy's `integers` convention). */
  int(low: number, high: number): number;
  /** True with probability p. */
  bernoulli(p: number): boolean;
  /** Shuffles `array` in place (Fisher–Yates) and returns it. */
  shuffle<T>(array: T[]): T[];
  /** A random permutation of 0..n-1. */
  permutation(n: number): number[];
  /** A 32-bit integer seed, for tfjs ops that take one (`tf.randomUniform(..., seed)`). */
  seed(): number;
  /**
   * An independent stream: the child starts 2^64 draws ahead (xoroshiro jump), and the parent
   * moves on past it, so successive forks never overlap.
   */
  fork(): Rng;
  /** The current state; `rngFromState(rng.getState())` continues the same sequence. */
  getState(): RngState;
}

class XoroshiroRng implements Rng {
  constructor(private gen: Generator) {}

  uniform(low = 0, high = 1): number {
    return low + (high - low) * uniformFloat64(this.gen);
  }

  normal(mean = 0, std = 1): number {
    // Box–Muller; 1 - u keeps the log argument in (0, 1].
    const u1 = 1 - uniformFloat64(this.gen);
    const u2 = uniformFloat64(this.gen);
    return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  gamma(shape: number, scale = 1): number {
    if (!(shape > 0) || !(scale > 0)) {
      throw new RangeError(`gamma(shape=${shape}, scale=${scale}): shape and scale must be > 0.`);
    }
    if (shape < 1) {
      // Boost: Gamma(a) = Gamma(a + 1) * U^(1/a).
      const u = 1 - uniformFloat64(this.gen);
      return this.gamma(shape + 1, scale) * Math.pow(u, 1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = 1 - uniformFloat64(this.gen);
      if (u < 1 - 0.0331 * x * x * x * x) return d * v * scale;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v * scale;
    }
  }

  beta(a: number, b: number): number {
    if (!(a > 0) || !(b > 0)) throw new RangeError(`beta(${a}, ${b}): both parameters must be > 0.`);
    const x = this.gamma(a);
    const y = this.gamma(b);
    return x + y === 0 ? (this.bernoulli(a / (a + b)) ? 1 : 0) : x / (x + y);
  }

  int(low: number, high: number): number {
    if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
      throw new RangeError(`int(${low}, ${high}): need integers with low < high (the range is [low, high)).`);
    }
    return uniformInt(this.gen, low, high - 1);
  }

  bernoulli(p: number): boolean {
    return uniformFloat64(this.gen) < p;
  }

  shuffle<T>(array: T[]): T[] {
    for (let i = array.length - 1; i > 0; i--) {
      const j = uniformInt(this.gen, 0, i);
      const tmp = array[i] as T;
      array[i] = array[j] as T;
      array[j] = tmp;
    }
    return array;
  }

  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  seed(): number {
    return this.gen.next() >>> 0;
  }

  fork(): Rng {
    const child = this.gen.clone() as Generator;
    child.jump();
    const parent = child.clone() as Generator;
    parent.jump();
    this.gen = parent;
    return new XoroshiroRng(child);
  }

  getState(): RngState {
    return { algorithm: 'xoroshiro128plus', state: [...this.gen.getState()] };
  }
}

/** murmur3's 32-bit finaliser: spreads a key into a well-mixed seed. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A seeded generator. Extra `streamKeys` (an epoch, a worker index) name a derived stream:
 * `createRng(seed, epoch)` is a pure function of (seed, epoch), whatever ran before.
 */
export function createRng(seed: number, ...streamKeys: number[]): Rng {
  if (!Number.isFinite(seed)) throw new TypeError(`createRng(seed): seed must be a finite number, got ${seed}.`);
  let s = mix32(Math.trunc(seed) | 0);
  for (const key of streamKeys) {
    if (!Number.isFinite(key)) throw new TypeError(`createRng: stream key must be a finite number, got ${key}.`);
    s = mix32(s ^ mix32((Math.trunc(key) + 0x9e3779b9) | 0));
  }
  return new XoroshiroRng(xoroshiro128plus(s | 0));
}

/** Restores a generator from {@link Rng.getState}; it continues exactly where the saved one stopped. */
export function rngFromState(state: RngState): Rng {
  if (state?.algorithm !== 'xoroshiro128plus' || !Array.isArray(state.state) || state.state.length !== 4) {
    throw new TypeError(
      `rngFromState: expected { algorithm: 'xoroshiro128plus', state: [4 numbers] } from rng.getState(), got ${JSON.stringify(state)}.`,
    );
  }
  return new XoroshiroRng(xoroshiro128plusFromState(state.state));
}
