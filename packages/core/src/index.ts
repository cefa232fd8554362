export type { Batch, BatchTransform, Loss, Schedule } from './types';
export { createRng, rngFromState, type Rng, type RngState } from './rng';
export { assertLabelsInRange, assertRank, assertSameShape } from './checks';
