export {
  centerCropBox,
  DEFAULT_RATIO,
  DEFAULT_SCALE,
  EVAL_CROP_FRACTION,
  evalResizeFor,
  IMAGENET_EVAL_RESIZE,
  IMAGENET_SIZE,
  resizeShorterCenterCropBox,
  resizeShorterSize,
  roundHalfEven,
  sampleRandomResizedCrop,
  type CropBox,
  type RandomResizedCropOptions,
  type ResizeShorterCenterCropOptions,
} from './crop-box';
export {
  cropAndResizeBoxes,
  randomResizedCrop,
  resizeShorterCenterCrop,
  type RandomResizedCropTransformOptions,
  type ResizeShorterCenterCropTransformOptions,
  type Size,
} from './random-resized-crop';
export { HORIZONTAL_FLIP_DEFAULTS, horizontalFlip, horizontalFlipOp, type HorizontalFlipOptions } from './horizontal-flip';
export { COLOR_JITTER_DEFAULTS, colorJitter, colorJitterOp, hsvToRgb, rgbToHsv, yiqHueMatrix, type ColorJitterDraw, type ColorJitterOptions } from './color-jitter';
export { IMAGENET_EIGVAL, IMAGENET_EIGVEC, PCA_LIGHTING_DEFAULTS, pcaLighting, pcaLightingOffset, pcaLightingOp, type PcaLightingOptions } from './pca-lighting';
export {
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  IMAGENET_MEAN,
  IMAGENET_STD,
  normalize,
  NORMALIZE_DEFAULTS,
  normalizeGrey,
  normalizeOp,
  type NormalizeGreyOptions,
  type NormalizeOptions,
} from './normalize';
export { MIXUP_DEFAULTS, mixBatch, mixup, sampleMixup, samplePartners, type MixPartner, type MixupDraw, type MixupOptions } from './mixup';
export { CUTMIX_DEFAULTS, cutmix, cutmixBatch, sampleCutmix, type CutmixDraw, type CutmixOptions } from './cutmix';
export { compose } from './compose';
export { evalPipeline, trainPipeline, type EvalPipelineOptions, type PipelinePreset, type TrainPipelineOptions } from './pipeline';
export { checkBatch, type FactorRange } from './checks';
export { applyPixelDraw, flipPixels, gluoncvJitterPixels, hsvJitterPixels, normalizePixels, pcaLightingPixels, pixelKernel, type PixelDraw, type PixelPassOptions, type Pixels } from './pixel-kernel';
export { applyPixelDrawResized } from './pixel-resize';
export { pixelPipeline, type PixelPipeline, type PixelPipelineOptions } from './pixel-pipeline';
export { opTransform, type AugmentOp } from './ops';
export { PHOTOMETRIC_KEYS, PRESETS, resolvePreset, type PhotometricOptions, type PresetSettings, type ResolvedPreset } from './presets';
export { tidyBatch } from './checks';
export { CROP_KEYS, DEFAULTS, PIXEL_PATH_KEYS, RESAMPLE_DEFAULTS, validateAugmentOptions } from './defaults';
