export type { Batch, BatchTransform, Loss, Schedule } from './types';
export { createRng, rngFromState, type Rng, type RngState } from './rng';
export { assertLabelsInRange, assertRank, assertSameShape } from './checks';
export {
  BATCH_NORM_TRAINING,
  fusedBatchNormTraining,
  hasFusedBatchNormTraining,
  type FusedBatchNormTrainingResult,
  type MovingStatistics,
} from './batch-norm';
export { RELU_GRAD, hasFusedReluGrad } from './relu-grad';
