import * as tf from '@tensorflow/tfjs-core';

/**
 * Multi-threaded wasm (XNNPACK's pthreadpool on Emscripten pthreads) in Node and browsers.
 *
 * tfjs-backend-wasm 4.22 turns threads off in Node (`WASM_HAS_MULTITHREAD_SUPPORT` is false
 * under `IS_NODE`, tfjs issue 3830). Forcing the flag alone fails for three reasons, each
 * undone here for the duration of the backend's start-up only:
 * 1. The pthread worker script is handed to `new Worker()` as a `blob:` URL, which Node's
 *    worker_threads refuse (ERR_WORKER_PATH). We write the same script to a real file and
 *    return its path from `URL.createObjectURL` for that one blob type.
 * 2. The worker then `importScripts` the main module from a Blob it cannot read synchronously;
 *    our worker file points it at the identical factory shipped as
 *    `wasm-out/tfjs-backend-wasm-threaded-simd.js`.
 * 3. The C++ side caps threads at `emscripten_num_logical_cores() / 2` (it assumes
 *    hyper-threading), which is `os.cpus().length / 2` in Node: 1 on a 2-core machine. We let
 *    `os.cpus()` report 2x the wanted count for that single call.
 * In browsers tfjs already runs threads where the page is cross-origin isolated; only the count
 * is set there.
 */

export interface WasmThreadsSetup {
  /** Threads asked for. */
  requested: number;
  /** How the threads are provided: Node worker_threads, the browser's own path, or not at all. */
  mode: 'node' | 'browser' | 'off';
  /** Why, in one line (logged by `initBackend`). */
  reason: string;
  /** Undoes the temporary start-up patches; call once `tf.setBackend('wasm')` has resolved. */
  release: () => void;
}

type NodeProcess = { versions?: { node?: string }; pid?: number };
const nodeProcess = (): NodeProcess | undefined => (globalThis as { process?: NodeProcess }).process;
const isNode = (): boolean => typeof nodeProcess()?.versions?.node === 'string';

/** Imports a Node built-in by a name bundlers leave alone, so this file stays browser-safe. */
const importBuiltin = <T>(name: string): Promise<T> =>
  import(/* @vite-ignore */ /* webpackIgnore: true */ `node:${name}`) as Promise<T>;

interface WasmModuleApi {
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}
const importWasm = (): Promise<WasmModuleApi> =>
  import('@tensorflow/tfjs-backend-wasm') as unknown as Promise<WasmModuleApi>;

const noop = (): void => {};

/**
 * Logical cores of this machine (Node: `os.availableParallelism()`; browsers:
 * `navigator.hardwareConcurrency`), 1 where unknown.
 */
export async function availableCores(): Promise<number> {
  if (isNode()) {
    const os = await importBuiltin<{ availableParallelism?: () => number; cpus: () => unknown[] }>('os');
    return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  }
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return Math.max(1, nav?.hardwareConcurrency ?? 1);
}

/** The pthread worker: tfjs's own script, with its main-module import pointed at a real file. */
function workerSource(workerModulePath: string, factoryPath: string): string {
  return [
    '"use strict";',
    '// Written by @bag-of-tricks/backend (threads.ts): tfjs-backend-wasm\'s pthread worker, runnable from a file in Node.',
    `const { wasmWorkerContents } = require(${JSON.stringify(workerModulePath)});`,
    "const { parentPort } = require('worker_threads');",
    'const on = parentPort.on.bind(parentPort);',
    // The "load" message carries the main script as a Blob, unreadable synchronously in Node.
    "parentPort.on = (event, listener) => on(event, event !== 'message' ? listener : (data) => {",
    `  if (data && data.cmd === 'load') data.urlOrBlob = ${JSON.stringify(factoryPath)};`,
    '  listener(data);',
    '});',
    // tfjs escapes newlines the same way before making its Blob.
    "eval(wasmWorkerContents.split(String.fromCharCode(10)).join(String.fromCharCode(92) + 'n'));",
    '',
  ].join('\n');
}

async function nodeSetup(threads: number): Promise<WasmThreadsSetup> {
  type Fs = typeof import('node:fs');
  type Os = typeof import('node:os');
  type Path = typeof import('node:path');
  type NodeModule = typeof import('node:module');
  type Crypto = typeof import('node:crypto');
  const [fs, os, path, nodeModule, crypto] = await Promise.all([
    importBuiltin<Fs>('fs'),
    importBuiltin<Os>('os'),
    importBuiltin<Path>('path'),
    importBuiltin<NodeModule>('module'),
    importBuiltin<Crypto>('crypto'),
  ]);
  const require = nodeModule.createRequire(import.meta.url);
  const wasmRoot = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  const workerModulePath = path.join(wasmRoot, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js');
  const factoryPath = path.join(wasmRoot, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  for (const file of [workerModulePath, factoryPath]) {
    if (!fs.existsSync(file)) {
      return { requested: threads, mode: 'off', reason: `${file} is missing, so wasm runs on one thread`, release: noop };
    }
  }

  // Content-addressed, written atomically: concurrent processes share one file safely.
  const source = workerSource(workerModulePath, factoryPath);
  const hash = crypto.createHash('sha256').update(source).digest('hex').slice(0, 16);
  const workerFile = path.join(os.tmpdir(), `bag-of-tricks-wasm-pthread-${hash}.cjs`);
  if (!fs.existsSync(workerFile)) {
    const partial = `${workerFile}.${nodeProcess()?.pid ?? 0}.tmp`;
    fs.writeFileSync(partial, source);
    fs.renameSync(partial, workerFile);
  }

  // Patch 1: the worker blob becomes our file's path.
  const createObjectURL = URL.createObjectURL;
  URL.createObjectURL = (object: Blob | MediaSource): string =>
    object instanceof Blob && object.type === 'application/javascript' ? workerFile : createObjectURL(object);

  // Patch 3: one-shot, so only the C++ static initialiser sees the doubled count.
  const osCjs = require('os') as Os;
  const cpus = osCjs.cpus;
  osCjs.cpus = () => {
    osCjs.cpus = cpus;
    const real = cpus();
    return Array.from({ length: 2 * threads }, (_, i) => real[i % Math.max(1, real.length)]!);
  };

  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  let released = false;
  return {
    requested: threads,
    mode: 'node',
    reason: `${threads} wasm threads on worker_threads (pthread worker ${workerFile})`,
    release: () => {
      if (released) return;
      released = true;
      URL.createObjectURL = createObjectURL;
      osCjs.cpus = cpus;
      unrefPoolWorkers();
    },
  };
}

/**
 * XNNPACK's pool threads park forever, and Emscripten keeps a running pthread's worker
 * referenced, so Node would never exit on its own. Unreferenced, they end with the process.
 */
function unrefPoolWorkers(): void {
  type Worker = { unref?: () => void };
  const backend = tf.findBackend('wasm') as unknown as
    | { wasm?: { PThread?: { runningWorkers?: Worker[]; unusedWorkers?: Worker[] } } }
    | null;
  const pool = backend?.wasm?.PThread;
  for (const worker of [...(pool?.runningWorkers ?? []), ...(pool?.unusedWorkers ?? [])]) worker.unref?.();
}

/**
 * Prepares the threaded-SIMD wasm build with `threads` threads (default: every core). Call it
 * before `tf.setBackend('wasm')`, then `release()` once that resolved; `initBackend('wasm',
 * { wasmThreads })` does both. With `threads <= 1` nothing changes (single-threaded SIMD).
 * XNNPACK splits work by output tiles, so results are bitwise those of one thread.
 */
export async function enableWasmThreads(threads?: number): Promise<WasmThreadsSetup> {
  const wanted = Math.floor(threads ?? (await availableCores()));
  if (!Number.isFinite(wanted) || wanted < 1) throw new Error(`wasm threads must be a positive integer, got ${threads}`);
  if ((tf.engine() as unknown as { registry: Record<string, unknown> }).registry['wasm']) {
    throw new Error('enableWasmThreads() must run before the wasm backend starts (tf.setBackend / initBackend).');
  }
  const wasm = await importWasm();
  wasm.setThreadsCount(wanted);
  if (wanted === 1) return { requested: 1, mode: 'off', reason: '1 wasm thread (asked for)', release: noop };
  if (typeof SharedArrayBuffer === 'undefined') {
    return { requested: wanted, mode: 'off', reason: 'no SharedArrayBuffer here, so wasm runs on one thread', release: noop };
  }
  if (!isNode()) {
    return {
      requested: wanted,
      mode: 'browser',
      reason: `${wanted} wasm threads where the page is cross-origin isolated (tfjs's own detection)`,
      release: noop,
    };
  }
  return nodeSetup(wanted);
}

/** Threads the running wasm backend actually uses (1 before it starts or when single-threaded). */
export async function wasmThreadsInUse(): Promise<number> {
  if (!tf.findBackend('wasm')) return 1;
  try {
    return (await importWasm()).getThreadsCount();
  } catch {
    return 1;
  }
}
