export { initBackend, type BackendName, type BackendPreference, type InitBackendOptions } from './init-backend';
export { registerWasmTrainingKernels } from './wasm-kernels';
