export type { Schedule } from '@bag-of-tricks/core';
export { DEFAULTS } from './defaults';
export { constant } from './constant';
export { stepDecay, type StepDecayOptions } from './step-decay';
export { exponential, type ExponentialOptions } from './exponential';
export { cosine, type CosineOptions } from './cosine';
export { linearWarmup, type LinearWarmupOptions, type LinearWarmupSchedule } from './linear-warmup';
export { join, sequence, warmupThen, type SequencePart } from './sequence';
export { linearScaledLr } from './linear-scaling';
export {
  epochsToSteps,
  warmupCosine,
  warmupStepDecay,
  type WarmupCosineOptions,
  type WarmupStepDecayOptions,
} from './epochs';
export { scheduleFromJSON } from './json';
export { toJSON, type LinearWarmupJSON, type ScheduleJSON, type ScheduleKind, type SerializableSchedule } from './serializable';
export { applyLearningRate } from './apply-learning-rate';
