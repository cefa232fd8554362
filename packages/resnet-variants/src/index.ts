export {
  RESNET_VARIANTS,
  type CreateResNetOptions,
  type InitializerName,
  type LayersInitializer,
  type ResNetConfig,
  type ResNetName,
  type ResolvedResNetConfig,
  type StemKind,
} from './config';
export { buildResNet, createResNet, RESNET_NAMES } from './build';
export { countFlops, countParams, flopsByLayer, type CountParamsOptions, type LayerFlops } from './count';
export { weightDecayGroups, type WeightDecayGroups } from './weight-decay';
export { zeroGammaLayers } from './zero-gamma';
