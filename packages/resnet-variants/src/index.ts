export {
  DEFAULTS,
  RESNET_VARIANTS,
  type CreateResNetOptions,
  type InitializerName,
  type LayersInitializer,
  type ResNetConfig,
  type ResNetName,
  type ResolvedResNetConfig,
  type StemKind,
} from './config';
export { buildResNet, createResNet, RESNET_NAMES, validateResNetOptions } from './build';
export { countFlops, countParams, flopsByLayer, type CountParamsOptions, type LayerFlops } from './count';
export { weightDecayGroups, type WeightDecayGroups } from './weight-decay';
export { zeroGammaLayers } from './zero-gamma';
export { batchNormalization, isFusedBatchNormalization, withFusedBatchNormalization } from './batch-norm';
export {
  detectTorchNaming,
  loadSafetensors,
  toSafetensors,
  torchTensorSpecs,
  type LoadSafetensorsOptions,
  type LoadSafetensorsResult,
  type ToSafetensorsOptions,
  type TorchNaming,
  type TorchNamingOption,
  type TorchTensorSpec,
} from './torch-weights';
export {
  float32Tensor,
  parseSafetensors,
  safetensorsToFloat32,
  writeSafetensors,
  SAFETENSORS_DTYPE_BYTES,
  type SafetensorsDtype,
  type SafetensorsFile,
  type SafetensorsTensor,
} from './safetensors';
