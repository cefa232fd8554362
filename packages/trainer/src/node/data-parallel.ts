import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { backendFlag } from '@bag-of-tricks/backend';
import {
  createDataParallelStep as createStep,
  type DataParallelStep,
  type DataParallelStepOptions,
  type DataParallelTransport,
} from '../data-parallel';

export type { DataParallelStep, DataParallelStepOptions, DataParallelTransport };

/** The worker script, next to this module in dist/ (tests running from src use the built one). */
function workerScript(): URL {
  const here = new URL('./dp-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  const built = new URL('../../dist/dp-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw new Error(
    `data-parallel: the worker script ${fileURLToPath(here)} is missing; build the trainer first (npx turbo run build --filter=@bag-of-tricks/trainer).`,
  );
}

/**
 * Replicas on worker_threads (dist/dp-worker.js, which runs the same replica code as a Web Worker does).
 * While they live, the optional native convolution pool is shared among them (see `shareNativeThreads`).
 */
export function workerThreadsTransport(): DataParallelTransport {
  let script: URL | undefined;
  return {
    kind: 'worker_threads',
    prepare: async (replicas, backend, log) => {
      script = workerScript();
      return backend === 'wasm' ? shareNativeThreads(replicas, log) : () => {};
    },
    spawn(init, listener) {
      // Node flags carry over to the workers, except those about how the main script was given (-e code).
      const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
      const worker = new Worker(script ?? workerScript(), { workerData: init, execArgv, name: `bag-of-tricks data-parallel replica ${init.replica}` });
      worker.on('message', (msg) => listener.message(msg));
      worker.on('error', (err) => listener.failed(err instanceof Error ? err.message : String(err), err instanceof Error ? err.stack : undefined));
      worker.on('messageerror', (err) => listener.failed(`a message could not be deserialised (${err.message})`));
      // Also after terminate(): the step ignores failures once it is disposed.
      worker.on('exit', (code) => listener.failed(`the thread exited unexpectedly (exit code ${code})`));
      return {
        postMessage: (msg, transfer) => worker.postMessage(msg, transfer),
        terminate: async () => void (await worker.terminate()),
      };
    },
  };
}

/**
 * Data-parallel training over worker_threads, for your own loop (`train()` uses it for `workers: N`,
 * `parallel: 'data'`): `@bag-of-tricks/trainer/core`'s `createDataParallelStep` with
 * `transport: workerThreadsTransport()` unless you pass another. See the core function for the step itself.
 */
export function createDataParallelStep(options: DataParallelStepOptions): Promise<DataParallelStep> {
  return createStep({ ...options, transport: options.transport ?? workerThreadsTransport() });
}

interface NativeKernelsModule {
  nativeKernelsAvailable(): boolean;
  getNativeThreads(): number;
  setNativeThreads(n: number): void;
}

/**
 * The optional native convolutions (@bag-of-tricks/native-kernels) keep one thread pool per process,
 * which every replica calls. Left at one thread per core, W replicas would run W x cores threads on
 * the cores; so the pool gets cores / W threads while the replicas live (BOT_NATIVE_THREADS, when set,
 * is the user's choice and is left alone). Returns the restore function.
 */
async function shareNativeThreads(replicas: number, log: (message: string) => void): Promise<() => void> {
  if (backendFlag('BOT_NATIVE_THREADS') !== undefined) return () => {};
  const specifier = '@bag-of-tricks/native-kernels';
  let nk: NativeKernelsModule;
  try {
    nk = (await import(/* @vite-ignore */ specifier)) as NativeKernelsModule;
    if (!nk.nativeKernelsAvailable()) return () => {};
  } catch {
    return () => {}; // not installed: nothing to share
  }
  const before = nk.getNativeThreads();
  const each = Math.max(1, Math.floor(availableParallelism() / replicas));
  nk.setNativeThreads(each);
  log(`[trainer] data parallel: native convolution pool ${before} -> ${each} thread(s) per call, shared by ${replicas} replicas`);
  return () => nk.setNativeThreads(before);
}
