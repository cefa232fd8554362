import { BOT_SIMD_WASM_BASE64 } from './bot-simd-wasm';
import type { WasmBackendLike } from './kernel-utils';

/** The exports of our wasm SIMD module (csrc/*.c). Pointers are byte offsets into the wasm heap. */
export interface SimdExports {
  conv2d_backprop_filter(
    x: number, dy: number, dw: number, seg: number,
    n: number, h: number, w: number, c: number, oh: number, ow: number, o: number,
    fh: number, fw: number, sh: number, sw: number, dh: number, dwl: number, pt: number, pl: number,
    chunkRows: number, pk: number,
  ): void;
  winograd_filter(w: number, u: number, c: number, o: number, swap: number, tmp: number): void;
  winograd_conv3x3(
    x: number, u: number, bias: number, out: number, v: number, m: number,
    n: number, h: number, w: number, c: number, o: number, oh: number, ow: number, pt: number, pl: number,
    t: number, relu: number,
  ): void;
  winograd_backprop_filter(
    x: number, dy: number, dw: number, macc: number, v: number, d: number, seg: number,
    n: number, h: number, w: number, c: number, o: number, oh: number, ow: number, pt: number, pl: number, t: number,
  ): void;
  conv2d_backprop_input(
    dy: number, w: number, dx: number, wt: number, seg: number,
    n: number, h: number, w_: number, c: number, oh: number, ow: number, o: number,
    fh: number, fw: number, sh: number, sw: number, dh: number, dwl: number, pt: number, pl: number,
    chunkRows: number,
  ): void;
  binary_broadcast(a: number, b: number, out: number, n: number, p: number, bFirst: number, op: number): void;
  pointwise_gemm(
    a: number, b: number, bias: number, out: number, bt: number,
    m: number, k: number, n: number, transB: number, relu: number, mb: number,
  ): void;
}

/** The parts of tfjs-backend-wasm's BackendWasm (and its emscripten Module) we reach into. */
export interface EmscriptenBackend extends WasmBackendLike {
  wasm: {
    asm: { memory: WebAssembly.Memory };
    _malloc(bytes: number): number;
    _free(ptr: number): void;
  };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
}

/** How many times each SIMD kernel ran in this process (tests check that a path was taken). */
export const simdCalls = { conv2dBackpropFilter: 0, conv2dBackpropInput: 0, winograd: 0, binary: 0, pointwise: 0 };

let bytes: Uint8Array | undefined;
let compiled: WebAssembly.Module | undefined;
let compiling: Promise<void> | undefined;
let unavailable: string | undefined;
const instances = new WeakMap<WebAssembly.Memory, SimdExports>();

function moduleBytes(): Uint8Array {
  if (!bytes) {
    const bin = atob(BOT_SIMD_WASM_BASE64);
    bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  }
  return bytes;
}

/**
 * Starts compiling the module in the background (browsers may refuse synchronous compiles on
 * the main thread). Safe to call more than once; never throws.
 */
export function prepareSimdModule(): void {
  if (compiled || compiling || unavailable || typeof WebAssembly === 'undefined') return;
  compiling = WebAssembly.compile(moduleBytes() as BufferSource).then(
    (m) => {
      compiled ??= m;
    },
    (e: unknown) => {
      unavailable = `compile failed: ${String(e)}`;
    },
  );
}

/** Why the SIMD kernels are off, or undefined when they run (for logs and tests). */
export function simdUnavailableReason(): string | undefined {
  return unavailable;
}

/**
 * Our SIMD kernels instantiated on this backend's own memory, so they work in place on
 * tensors; null where they cannot run (no WebAssembly SIMD, or the threaded build, whose
 * memory is a SharedArrayBuffer: there the XNNPACK kernels, which use the thread pool, stay).
 * Browsers refuse synchronous compiles and instantiations of modules over 4 KB on the main
 * thread (a RangeError): then this returns null (the caller uses its XNNPACK fallback) and
 * instantiates in the background; later calls get the kernels.
 */
export function simdKernels(backend: WasmBackendLike): SimdExports | null {
  if (simdDisabledByEnv()) return null;
  const memory = (backend as Partial<EmscriptenBackend>).wasm?.asm?.memory;
  if (!memory || unavailable) return null;
  if (typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer) return null;
  const cached = instances.get(memory);
  if (cached) return cached;
  if (pending.has(memory)) return null;
  try {
    compiled ??= new WebAssembly.Module(moduleBytes() as BufferSource);
    const instance = new WebAssembly.Instance(compiled, { env: { memory } });
    const exports = instance.exports as unknown as SimdExports;
    instances.set(memory, exports);
    return exports;
  } catch (e) {
    if (e instanceof RangeError) instantiateInBackground(memory);
    else unavailable = `instantiate failed: ${String(e)}`;
    return null;
  }
}

const pending = new WeakSet<WebAssembly.Memory>();

function instantiateInBackground(memory: WebAssembly.Memory): void {
  pending.add(memory);
  const imports = { env: { memory } };
  const instance: Promise<WebAssembly.Instance> = compiled
    ? WebAssembly.instantiate(compiled, imports)
    : WebAssembly.instantiate(moduleBytes() as BufferSource, imports).then((r) => {
        compiled ??= r.module;
        return r.instance;
      });
  instance.then(
    (i) => {
      instances.set(memory, i.exports as unknown as SimdExports);
      pending.delete(memory);
    },
    (e: unknown) => {
      unavailable = `instantiate failed: ${String(e)}`;
      pending.delete(memory);
    },
  );
}

/** `BOT_WASM_SIMD=0` turns our SIMD kernels off (read on every call, so a benchmark can A/B them in one process). */
function simdDisabledByEnv(): boolean {
  const v = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.BOT_WASM_SIMD;
  return v === '0' || v === 'off' || v === 'false';
}

/** The heap byte offset of a tensor's data. */
export function heapOffset(backend: EmscriptenBackend, dataId: object): number {
  const entry = backend.dataIdMap.get(dataId);
  if (!entry) throw new Error('internal: tensor data is not on the wasm heap');
  return entry.memoryOffset;
}
