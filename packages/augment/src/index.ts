export {
  centerCropBox,
  DEFAULT_RATIO,
  DEFAULT_SCALE,
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
export { horizontalFlip, type HorizontalFlipOptions } from './horizontal-flip';
export { colorJitter, hsvToRgb, rgbToHsv, yiqHueMatrix, type ColorJitterOptions } from './color-jitter';
export { IMAGENET_EIGVAL, IMAGENET_EIGVEC, pcaLighting, pcaLightingOffset, type PcaLightingOptions } from './pca-lighting';
export {
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  IMAGENET_MEAN,
  IMAGENET_STD,
  normalize,
  normalizeGrey,
  type NormalizeGreyOptions,
  type NormalizeOptions,
} from './normalize';
export { mixBatch, mixup, sampleMixup, samplePartners, type MixPartner, type MixupDraw, type MixupOptions } from './mixup';
export { cutmix, cutmixBatch, sampleCutmix, type CutmixDraw, type CutmixOptions } from './cutmix';
export { compose } from './compose';
export { evalPipeline, trainPipeline, type EvalPipelineOptions, type PipelinePreset, type TrainPipelineOptions } from './pipeline';
export { checkBatch, type FactorRange } from './checks';
export {
  applyPixelDraw,
  applyPixelDrawResized,
  flipPixels,
  gluoncvJitterPixels,
  hsvJitterPixels,
  normalizePixels,
  pcaLightingPixels,
  pixelKernel,
  pixelPipeline,
  type PixelDraw,
  type PixelPassOptions,
  type PixelPipeline,
  type PixelPipelineOptions,
  type Pixels,
} from './pixels';
