/**
 * Every default of this package, written once: the factories read them here, and so do the trainer's config
 * schema and its --help (import `DEFAULTS` from '@bag-of-tricks/schedules').
 */
export const DEFAULTS = Object.freeze({
  /** Linear scaling rule (He et al. §3.1): lr = baseLr x batch / referenceBatch, baseLr 0.1 for 256. */
  linearScaling: Object.freeze({ baseLr: 0.1 as number, referenceBatch: 256 as number }),
  /** Linear warmup: none by default (the paper uses 5 epochs), from 0. */
  warmup: Object.freeze({ epochs: 0 as number, from: 0 as number }),
  /** Cosine decay ends exactly at `floor`. */
  cosine: Object.freeze({ floor: 0 as number }),
  /** Step decay multiplies by `gamma` at each milestone. */
  stepDecay: Object.freeze({ gamma: 0.1 as number, milestones: Object.freeze([] as number[]) }),
});
