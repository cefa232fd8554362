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
