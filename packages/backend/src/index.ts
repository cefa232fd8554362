export { ensureGradients, initBackend, type BackendName, type BackendPreference, type InitBackendOptions } from './init-backend';
export { registerWasmTrainingKernels, unregisterWasmTrainingKernels, WASM_TRAINING_KERNELS } from './wasm-kernels';
export { batchNormTraining, type BatchNormTrainingResult } from './batch-norm';
export { enableWasmThreads, wasmThreadsInUse, availableCores, type WasmThreadsSetup } from './threads';
export { registerFastGradients, unregisterFastGradients, FAST_GRADIENTS } from './fast-gradients';
export {
  useNativeKernels,
  nativePrecision,
  releaseNativeKernels,
  nativeOptimizerStep,
  NATIVE_KERNELS_PACKAGE,
  PRECISIONS,
  type Precision,
  type NativePreference,
  type NativeKernelsResult,
} from './native';

export { BACKEND_FLAGS, backendFlag, effectiveBackendFlags, type BackendFlagName, type BackendFlagValue, type EffectiveFlag, type Tristate } from './flags';
