import { loadAddon, nativeLoadError, requireAddon } from './addon';
import { registerFusedKernels, unregisterFusedKernels } from './fused';
import { NATIVE_KERNELS, isNativeWrapper, registerWrappers, stats, unregisterWrappers, type NativeKernelStats } from './kernels';

export { nativeLoadError, NATIVE_KERNELS, isNativeWrapper, type NativeKernelStats };
export { applyMomentumNative, type NativeMomentumOptions } from './momentum';
export { NATIVE_FUSED_KERNELS } from './fused';

export interface RegisterNativeKernelsOptions {
  /** Native threads (default: this machine's logical cores, or the last `setNativeThreads`). */
  threads?: number;
  /**
   * Also register the fused training kernels: core's BATCH_NORM_TRAINING (resnet-variants' BatchNorm layers use
   * it) and RELU_GRAD (backend's ReLU gradient uses it). Default true; false takes them off (tfjs's own op
   * sequences then run).
   */
  fused?: boolean;
}

/** Whether the compiled addon loads on this machine (see `nativeLoadError()` when not). */
export function nativeKernelsAvailable(): boolean {
  return loadAddon() !== null;
}

/**
 * Wraps tfjs-backend-wasm's Conv2D, FusedConv2D, Conv2DBackpropInput and Conv2DBackpropFilter:
 * each wrapper runs the native kernel in place on the wasm heap when it applies (NHWC float32;
 * FusedConv2D with linear/relu) and calls the kernel registered beneath it otherwise. Also registers
 * the fused training kernels (BatchNorm, ReLU's gradient) on 'wasm' (unless `fused: false`). Import
 * '@tensorflow/tfjs-backend-wasm' first. Idempotent. Throws, saying why, when the addon is
 * unavailable. Returns the kernel names now served natively.
 */
export function registerNativeKernels(options: RegisterNativeKernelsOptions = {}): string[] {
  const addon = requireAddon();
  if (options.threads !== undefined) setNativeThreads(options.threads);
  void addon;
  const names = registerWrappers();
  if (options.fused === false) {
    unregisterFusedKernels();
    return names;
  }
  return [...names, ...registerFusedKernels()];
}

/** Restores the kernels the wrappers wrapped and takes off the fused training kernels. */
export function unregisterNativeKernels(): void {
  unregisterWrappers();
  unregisterFusedKernels();
}

/** Threads of the native pool (1..256). Results are bitwise identical for any count. */
export function setNativeThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new Error(`setNativeThreads(${n}): give an integer from 1 to 256 (e.g. os.availableParallelism()).`);
  }
  requireAddon().setThreads(n);
}

export function getNativeThreads(): number {
  return requireAddon().getThreads();
}

/**
 * Precision of the native convolution GEMMs (forward, input gradient, filter gradient):
 * - 'float32' (default): float32 operands and sums;
 * - 'bfloat16': operands rounded to bfloat16 (round to nearest even) as they are packed, products
 *   summed in float32 (AVX512_BF16 VDPBF16PS). Tensors, weights and everything outside the conv
 *   GEMMs stay float32. Throws, saying why, where the CPU (or the build) lacks AVX512_BF16.
 */
export type NativePrecision = 'float32' | 'bfloat16';

/** Whether bfloat16 can run here, and if not, why (CPU without AVX512_BF16, an AVX2 build, no addon). */
export function nativeBf16Support(): { supported: boolean; reason: string | null } {
  const a = loadAddon();
  if (!a) return { supported: false, reason: `the native addon is unavailable (${nativeLoadError()})` };
  const why = a.bf16Unsupported();
  return { supported: why === null, reason: why };
}

/** Sets the precision of every later native convolution call in this process (global, like the thread count). */
export function setNativePrecision(precision: NativePrecision): void {
  if (precision !== 'float32' && precision !== 'bfloat16') {
    throw new Error(`setNativePrecision(${JSON.stringify(precision)}): give 'float32' or 'bfloat16'.`);
  }
  requireAddon().setPrecision(precision);
}

export function getNativePrecision(): NativePrecision {
  return requireAddon().getPrecision();
}

/** Kernel choices that can be turned off, for comparisons (both on by default). */
export interface NativeKernelSwitches {
  /** Winograd F(2x2, 3x3) for 3x3 stride-1 convs with 32-256 channels (off: the im2col GEMM). */
  winograd?: boolean;
  /** bfloat16's direct (implicit-GEMM) conv kernels where they apply (off: the packed bf16 GEMM). */
  directBf16?: boolean;
}

/** Sets kernel choices for every later native call in this process (global, like the thread count). Results stay deterministic either way; they differ between choices in float32 rounding. */
export function setNativeKernelSwitches(switches: NativeKernelSwitches): void {
  const a = requireAddon();
  for (const [name, on] of Object.entries(switches) as Array<[keyof NativeKernelSwitches, boolean | undefined]>) {
    if (on === undefined) continue;
    if (name !== 'winograd' && name !== 'directBf16') throw new Error(`setNativeKernelSwitches: unknown switch ${JSON.stringify(name)} (winograd, directBf16).`);
    if (typeof on !== 'boolean') throw new Error(`setNativeKernelSwitches: ${name} must be true or false, got ${JSON.stringify(on)}.`);
    a.setSwitch(name, on);
  }
}

/** The bfloat16 bits of each value, rounded exactly as the bf16 kernels round their operands (nearest even; NaN stays NaN, subnormals become 0). */
export function toBfloat16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  requireAddon().toBf16(values, out);
  return out;
}

/** bfloat16 bits back to float32 (exact: a bfloat16 is the top half of a float32). */
export function bfloat16BitsToFloat32(bits: Uint16Array): Float32Array {
  const u = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return new Float32Array(u.buffer);
}

/** What the addon was compiled for and how it runs. */
export function nativeInfo(): {
  available: boolean;
  isa: string | null;
  threads: number | null;
  precision: NativePrecision | null;
  bf16: boolean;
  reason: string | null;
} {
  const a = loadAddon();
  return {
    available: !!a,
    isa: a?.isa() ?? null,
    threads: a?.getThreads() ?? null,
    precision: a?.getPrecision() ?? null,
    bf16: a ? a.bf16Unsupported() === null : false,
    reason: nativeLoadError(),
  };
}

/** Per kernel: native runs, fallbacks, and the last fallback's reason (to check the native path is in use). */
export function nativeKernelStats(): Record<string, NativeKernelStats> {
  return Object.fromEntries([...stats].map(([k, v]) => [k, { ...v }]));
}

export function resetNativeKernelStats(): void {
  stats.clear();
}

/**
 * C = A * B on plain Float32Arrays (row-major A [m,k], B [k,n]) with the native GEMM, for
 * benchmarks and checks. Copies the operands into one buffer.
 */
export function nativeMatMul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
  if (a.length !== m * k || b.length !== k * n) throw new Error(`nativeMatMul: a needs ${m}x${k} and b ${k}x${n} values.`);
  const buf = new Float32Array(m * k + k * n + m * n);
  buf.set(a, 0);
  buf.set(b, m * k);
  requireAddon().matMul(buf.buffer, Float64Array.of(0, m * k * 4, (m * k + k * n) * 4, 1, m, k, n, 0, 0, -1, 0, 1, 1));
  return buf.slice(m * k + k * n);
}
