import * as tf from '@tensorflow/tfjs-core';
import { registerWasmTrainingKernels } from './wasm-kernels';
import { enableWasmThreads } from './threads';
import { registerFastGradients } from './fast-gradients';
import { bfloat16Refusal, releaseNativeKernels, useNativeKernels, type NativePreference, type Precision } from './native';
import { backendFlag } from './flags';

export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface InitBackendOptions {
  /** Where the reason for the choice goes (default `console.info`); pass `() => {}` to silence. */
  log?: (message: string) => void;
  /** Threads for the wasm backend where the environment allows them. */
  wasmThreads?: number;
  /**
   * Native convolutions (the optional `@bag-of-tricks/native-kernels` package) on the wasm backend
   * in Node: 'auto' (default) when installed and built, `true` to require them, `false` for none.
   * `BOT_NATIVE=0|1|auto` overrides.
   */
  native?: NativePreference;
  /**
   * Precision of the convolutions: 'float32' (default), or 'bfloat16' (bf16 operands, float32 sums,
   * float32 weights and updates) with the native kernels on wasm in Node on an AVX512_BF16 CPU. Where
   * bfloat16 cannot run (the tensorflow or cpu backend, native kernels off or missing, a CPU without
   * AVX512_BF16) initBackend throws, saying why. Left out: the native kernels keep their current precision.
   */
  precision?: Precision;
}

const isNode = (): boolean =>
  typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';

/** Imports an optional package by a name bundlers do not try to resolve. */
async function importOptional(name: string): Promise<boolean> {
  try {
    await import(/* @vite-ignore */ /* webpackIgnore: true */ name);
    return true;
  } catch {
    return false;
  }
}

async function tryTensorflow(): Promise<string | null> {
  if (!isNode()) return null;
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    if ((await importOptional(pkg)) && tf.findBackend('tensorflow') && (await tf.setBackend('tensorflow'))) return pkg;
  }
  return null;
}

async function tryWasm(threads: number | undefined, log: (message: string) => void): Promise<boolean> {
  await import('@tensorflow/tfjs-backend-wasm');
  registerWasmTrainingKernels();
  // wasm threads (see threads.ts): the `wasmThreads` option, else BOT_WASM_THREADS.
  const wanted = threads ?? backendFlag('BOT_WASM_THREADS');
  const setup = wanted !== undefined && wanted > 1 ? await enableWasmThreads(wanted) : undefined;
  if (setup) log(`[bag-of-tricks] wasm threads: ${setup.reason}`);
  try {
    return await tf.setBackend('wasm');
  } finally {
    setup?.release();
  }
}

/**
 * tfjs-core alone registers no gradients, and its `register_all_gradients` module is not
 * loadable from plain Node ESM. tfjs-layers' bundle registers them, so load it when present.
 * Returns whether gradients are available.
 */
export async function ensureGradients(log: (message: string) => void = () => {}): Promise<boolean> {
  if (tf.getGradient('Relu')) return true;
  await importOptional('@tensorflow/tfjs-layers');
  if (tf.getGradient('Relu')) return true;
  log(
    '[bag-of-tricks] no gradients are registered, so training will fail: import ' +
      "'@tensorflow/tfjs-core/dist/register_all_gradients' (in a bundler) or '@tensorflow/tfjs-layers' / '@tensorflow/tfjs' first.",
  );
  return false;
}

/**
 * The cpu backend prints a banner urging tfjs-node on its first tensor in Node. initBackend
 * already logs which backend it picked and why, so the banner is noise (and it lands in every
 * test run that uses cpu as the reference).
 */
function quietCpuBanner(): void {
  if (!tf.engine().registryFactory['cpu']) return;
  const cpu = tf.findBackend('cpu') as { firstUse?: boolean } | null;
  if (cpu && 'firstUse' in cpu) cpu.firstUse = false;
}

async function tryCpu(): Promise<boolean> {
  await import('@tensorflow/tfjs-backend-cpu');
  quietCpuBanner();
  return tf.setBackend('cpu');
}

/**
 * Picks the fastest backend present and makes it current: `tensorflow` (tfjs-node-gpu or
 * tfjs-node, when installed), then `wasm` with our training kernels, then `cpu`.
 * `BOT_BACKEND=wasm|cpu|tensorflow` overrides `preference`. Returns the name picked.
 */
export async function initBackend(
  preference: BackendPreference = 'auto',
  { log = (m) => console.info(m), wasmThreads, native, precision }: InitBackendOptions = {},
): Promise<BackendName> {
  const fromEnv = backendFlag('BOT_BACKEND');
  const wanted: BackendPreference = fromEnv ?? preference;
  // Gradients are global: ours replace tfjs-core's BN and leading-axis reduction gradients on every backend.
  if (await ensureGradients(log)) registerFastGradients();
  quietCpuBanner();
  const why = fromEnv ? `BOT_BACKEND=${fromEnv}` : `preference '${preference}'`;

  // bfloat16 runs only in the native kernels on wasm: refused up front on the others; 'auto' skips tensorflow.
  if (precision === 'bfloat16' && (wanted === 'tensorflow' || wanted === 'cpu')) throw bfloat16Refusal(wanted, why);
  if (wanted === 'tensorflow' || (wanted === 'auto' && precision !== 'bfloat16')) {
    const pkg = await tryTensorflow();
    if (pkg) {
      log(`[bag-of-tricks] backend: tensorflow (libtensorflow via ${pkg}; ${why})`);
      return 'tensorflow';
    }
    if (wanted === 'tensorflow') {
      throw new Error(
        `Backend 'tensorflow' was asked for (${why}) but neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node loads here. ` +
          `Install one (npm i @tensorflow/tfjs-node) on a machine that can download libtensorflow, or use 'wasm'.`,
      );
    }
  }
  if (wanted === 'wasm' || wanted === 'auto') {
    releaseNativeKernels();
    if (await tryWasm(wasmThreads, log)) {
      const reason = wanted === 'auto' ? 'tfjs-node is not installed, so wasm with our training kernels' : why;
      log(`[bag-of-tricks] backend: wasm (${reason})`);
      await useNativeKernels(native, log, undefined, precision);
      return 'wasm';
    }
    if (wanted === 'wasm') throw new Error(`The wasm backend failed to initialise (${why}); try 'cpu'.`);
  }
  if (precision === 'bfloat16') throw bfloat16Refusal('cpu', wanted === 'auto' ? 'neither tfjs-node nor wasm could start' : why);
  if (await tryCpu()) {
    log(`[bag-of-tricks] backend: cpu (${wanted === 'auto' ? 'neither tfjs-node nor wasm could start' : why})`);
    return 'cpu';
  }
  throw new Error('No TensorFlow.js backend could be initialised (tried tensorflow, wasm, cpu).');
}
