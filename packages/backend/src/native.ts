/**
 * The optional native fast path for Node: `@bag-of-tricks/native-kernels`, a Node-API
 * addon with AVX-512/AVX2 FMA convolutions that run in place on the wasm backend's heap. It is an
 * optional peer dependency: imported by a name bundlers do not resolve, so this file stays
 * browser-safe and a light install works without it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backendFlag, backendFlagIsSet } from './flags';

/** `true`: must be used (throws when it cannot); `false`: never; `'auto'`: when installed and built. */
export type NativePreference = boolean | 'auto';

/**
 * Precision of the convolution GEMMs (the one definition; the trainer's config and CLI derive from it).
 * 'bfloat16': the native kernels round the conv operands to bfloat16 as they pack them and sum the
 * products in float32 (AVX512_BF16); tensors, weights, updates, BatchNorm and every other op stay float32.
 */
export const PRECISIONS = ['float32', 'bfloat16'] as const;
export type Precision = (typeof PRECISIONS)[number];

export interface NativeKernelsResult {
  /** Whether the native kernels are now registered beneath the wasm backend's kernel names. */
  used: boolean;
  /** Why, in words (also logged). */
  reason: string;
}

/** The slice of @bag-of-tricks/native-kernels this hook uses. */
interface NativeKernelsModule {
  nativeKernelsAvailable(): boolean;
  nativeLoadError(): string | null;
  registerNativeKernels(options?: { threads?: number; fused?: boolean }): string[];
  unregisterNativeKernels(): void;
  nativeInfo(): { isa: string | null; threads: number | null };
  /** Newer builds of the package: bfloat16 support and the precision switch. */
  nativeBf16Support?(): { supported: boolean; reason: string | null };
  setNativePrecision?(precision: Precision): void;
  getNativePrecision?(): Precision;
  /** Newer builds: kernel choices that can be turned off, for comparisons. */
  setNativeKernelSwitches?(switches: { winograd?: boolean; directBf16?: boolean }): void;
  /** Newer builds: the fused momentum/NAG + L2 decay update (null: applied; else why not, nothing changed). */
  applyMomentumNative?(
    optimizer: tf.Optimizer,
    grads: tf.NamedTensorMap,
    options: { decayVariables?: readonly tf.Variable[]; weightDecay?: number },
  ): string | null;
}

export const NATIVE_KERNELS_PACKAGE = '@bag-of-tricks/native-kernels';

type NodeProcess = { versions?: { node?: string }; env?: Record<string, string | undefined> };
const nodeProcess = (): NodeProcess | undefined => (globalThis as { process?: NodeProcess }).process;

const importByName = (name: string): Promise<unknown> => import(/* @vite-ignore */ /* webpackIgnore: true */ name);

/**
 * Where the preference comes from: `BOT_NATIVE=0|1|auto` overrides the option. The default is
 * 'auto', except under vitest (VITEST set), where it is off so other packages' test suites keep
 * exercising the wasm kernels they are written against; tests opt in with `native: true`.
 */
function resolvePreference(option: NativePreference | undefined): { pref: NativePreference; why: string } {
  if (backendFlagIsSet('BOT_NATIVE')) {
    const v = backendFlag('BOT_NATIVE');
    return { pref: v === 'never' ? false : v === 'always' ? true : 'auto', why: `BOT_NATIVE=${nodeProcess()?.env?.BOT_NATIVE}` };
  }
  if (option !== undefined) return { pref: option, why: `native: ${JSON.stringify(option)}` };
  if (nodeProcess()?.env?.VITEST) return { pref: false, why: 'default under vitest (pass native: true to test it)' };
  return { pref: 'auto', why: 'default' };
}

let loaded: NativeKernelsModule | null = null;
/** Whether this hook's native kernels are registered now (releaseNativeKernels clears it). */
let active = false;

/**
 * The precision the native convolutions of this process run at now ('float32' where they are not loaded here).
 * The addon's setting is process-wide, so a worker thread that loaded them sees the main thread's setting.
 */
export function nativePrecision(): Precision {
  return loaded?.getNativePrecision?.() ?? 'float32';
}

/**
 * Takes our native wrappers off the wasm kernels (if this hook registered them), so a repeated
 * `initBackend` registers the wasm training kernels on the plain ones and wraps them afresh.
 */
export function releaseNativeKernels(): void {
  loaded?.unregisterNativeKernels();
  active = false;
}

/**
 * The optimizer update of a training step, `weightDecay · w` added to the gradients of `decayVariables` and then
 * `optimizer.applyGradients`, as one native pass per variable (native-kernels' `applyMomentumNative`), where
 * that can run: the native kernels are on (wasm in Node), the optimizer is tfjs's momentum (plain or Nesterov)
 * and BOT_NATIVE_OPTIMIZER is not `never`. The weights, the optimizer's accumulators and its iteration count come
 * out bitwise equal to the tfjs ops. Returns false (having changed nothing) where it does not run: then call
 * the tfjs ops. Call it inside `tf.tidy`.
 */
export function nativeOptimizerStep(
  optimizer: tf.Optimizer,
  grads: tf.NamedTensorMap,
  decayVariables: readonly tf.Variable[],
  weightDecay: number,
): boolean {
  if (!active || !loaded?.applyMomentumNative || tf.getBackend() !== 'wasm') return false;
  if (backendFlag('BOT_NATIVE_OPTIMIZER') === 'never') return false;
  return loaded.applyMomentumNative(optimizer, grads, { decayVariables, weightDecay }) === null;
}

/** Why bfloat16 cannot run on a backend other than wasm with the native kernels. */
export function bfloat16Refusal(backend: string, why: string): Error {
  return new Error(
    `precision 'bfloat16' cannot run on the ${backend} backend (${why}): only the native kernels of ${NATIVE_KERNELS_PACKAGE} ` +
      `on the wasm backend in Node have bfloat16 convolutions (AVX512_BF16). Use backend 'wasm' with the native kernels, or precision 'float32'.`,
  );
}

/**
 * Registers the native kernels over the wasm backend's when wanted and possible, and logs which
 * it chose and why. Called by `initBackend` once wasm is the backend. `BOT_NATIVE_THREADS` sets
 * the native thread count (default: all cores). `importer` is for tests. `precision` (when given)
 * sets the precision of the native convolutions and is logged; 'bfloat16' throws, saying why, where
 * the native kernels are off or the CPU lacks AVX512_BF16. Left out: the addon's current precision
 * stays (data-parallel replicas in worker_threads share the process's addon with the main thread).
 */
export async function useNativeKernels(
  option: NativePreference | undefined,
  log: (message: string) => void,
  importer: (name: string) => Promise<unknown> = importByName,
  precision?: Precision,
): Promise<NativeKernelsResult> {
  const { pref, why } = resolvePreference(option);
  const done = (used: boolean, reason: string): NativeKernelsResult => {
    if (!used && precision === 'bfloat16') {
      throw new Error(
        `precision 'bfloat16' needs the native kernels of ${NATIVE_KERNELS_PACKAGE} (the wasm kernels, and browsers, have no bfloat16), ` +
          `but they are off: ${reason} (${why}). Use precision 'float32', or turn the native kernels on (BOT_NATIVE=1 / native: true, built with g++ on an AVX512_BF16 CPU).`,
      );
    }
    if (!used && pref === true) {
      throw new Error(
        `Native kernels were required (${why}) but cannot be used: ${reason}. ` +
          `Install and build ${NATIVE_KERNELS_PACKAGE} (needs g++ and Node headers), or set BOT_NATIVE=0 / native: false.`,
      );
    }
    log(`[bag-of-tricks] native kernels: ${used ? 'on' : 'off'} (${reason}; ${why})`);
    return { used, reason };
  };
  if (pref === false) return done(false, 'disabled');
  if (typeof nodeProcess()?.versions?.node !== 'string') return done(false, 'not Node');

  let mod: NativeKernelsModule;
  try {
    mod = (await importer(NATIVE_KERNELS_PACKAGE)) as NativeKernelsModule;
  } catch (e) {
    const err = e as { code?: string; message?: string };
    const missing = err.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (package|module)/.test(err.message ?? '');
    return done(false, missing ? `not installed (npm i ${NATIVE_KERNELS_PACKAGE})` : `failed to load: ${err.message}`);
  }
  if (!mod.nativeKernelsAvailable()) return done(false, mod.nativeLoadError() ?? 'unavailable');

  const threads = backendFlag('BOT_NATIVE_THREADS');
  loaded = mod;
  const fused = backendFlag('BOT_NATIVE_FUSED') !== 'never';
  const names = mod.registerNativeKernels(threads === undefined ? { fused } : { threads, fused });
  active = true;
  mod.setNativeKernelSwitches?.({
    winograd: backendFlag('BOT_NATIVE_NO_WINOGRAD') !== 'always',
    directBf16: backendFlag('BOT_NATIVE_NO_DIRECT_BF16') !== 'always',
  });
  const info = mod.nativeInfo();
  const result = done(true, `${info.isa}, ${info.threads} threads: ${names.join(', ')}`);
  if (precision === 'bfloat16') {
    const bf16 = mod.nativeBf16Support?.() ?? { supported: false, reason: `this version of ${NATIVE_KERNELS_PACKAGE} has no bfloat16 kernels (update it)` };
    if (!bf16.supported) {
      throw new Error(`precision 'bfloat16' cannot run here: ${bf16.reason}. Use precision 'float32' on this machine.`);
    }
  }
  if (precision !== undefined) mod.setNativePrecision?.(precision);
  const now = mod.getNativePrecision?.() ?? 'float32';
  if (precision !== undefined || now !== 'float32') log(
    `[bag-of-tricks] precision: ${now} (${
      now === 'bfloat16'
        ? 'native conv GEMMs read bfloat16 operands (round to nearest even) and sum in float32 with AVX512_BF16; weights, updates, BatchNorm and all other ops stay float32'
        : 'float32 throughout'
    }; ${precision === undefined ? 'unchanged' : `precision: '${precision}'`})`,
  );
  return result;
}
