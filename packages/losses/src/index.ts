export type { Loss } from '@bag-of-tricks/core';
export { DEFAULTS } from './defaults';
export { crossEntropyWithLogits, softTargetCrossEntropy, type SoftTargetCrossEntropyOptions } from './soft-target-cross-entropy';
export {
  labelSmoothingCrossEntropy,
  smoothLabels,
  type LabelSmoothingCrossEntropyOptions,
  type SmoothingForm,
  type SmoothingOptions,
} from './label-smoothing';
