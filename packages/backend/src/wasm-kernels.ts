/** Registers the training kernels stock tfjs-backend-wasm lacks or runs slowly. Idempotent. */
export function registerWasmTrainingKernels(): void {
  // Filled in by the kernels work (issue 2).
}
