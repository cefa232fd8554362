import { backendFlag } from '../flags';
import botSimdWasm from './bot-simd.wasm';
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
  conv2d_backprop_input_gemm(
    dy: number, w: number, dx: number, wp: number, col: number,
    n: number, h: number, w_: number, c: number, oh: number, ow: number, o: number,
    fh: number, fw: number, sh: number, sw: number, dh: number, dwl: number, pt: number, pl: number,
    mb: number,
  ): void;
  conv2d_backprop_filter_gemm(
    x: number, dy: number, dw: number, colT: number, bp: number, acc: number,
    n: number, h: number, w: number, c: number, oh: number, ow: number, o: number,
    fh: number, fw: number, sh: number, sw: number, dh: number, dwl: number, pt: number, pl: number,
    mb: number,
  ): void;
  max_pool_grad(
    x: number, dy: number, dx: number, n: number, h: number, w: number, c: number, oh: number, ow: number,
    fh: number, fw: number, sh: number, sw: number, pt: number, pl: number,
  ): void;
  outer_product(a: number, b: number, out: number, m: number, n: number): void;
  binary_broadcast(a: number, b: number, out: number, n: number, p: number, bFirst: number, op: number): void;
  pointwise_gemm(
    a: number, b: number, bias: number, out: number, bt: number,
    m: number, k: number, n: number, transB: number, relu: number, mb: number,
  ): void;
}

/** The parts of tfjs-backend-wasm's BackendWasm (and its emscripten Module) we reach into. */
export interface EmscriptenBackend extends WasmBackendLike {
  wasm: {
    /** The single-threaded build exports its memory here... */
    asm?: { memory?: WebAssembly.Memory };
    /** ...the threaded build (memory created in JS, shared) here. */
    wasmMemory?: WebAssembly.Memory;
    _malloc(bytes: number): number;
    _free(ptr: number): void;
  };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
}

/** How many times each SIMD kernel ran in this process (tests check that a path was taken). */
export const simdCalls = { conv2dBackpropFilter: 0, conv2dBackpropFilterGemm: 0, conv2dBackpropInput: 0, conv2dBackpropInputGemm: 0, winograd: 0, binary: 0, pointwise: 0, maxPoolGrad: 0, outerProduct: 0, fusedMatMul: 0 };

let bytes: Uint8Array | undefined;
let sharedBytes: Uint8Array | undefined;
let compiled: WebAssembly.Module | undefined;
let compiledShared: WebAssembly.Module | undefined;
let compiling: Promise<void> | undefined;
let unavailable: string | undefined;
const instances = new WeakMap<WebAssembly.Memory, SimdExports>();

function moduleBytes(): Uint8Array {
  // Embedded at build time from the committed bot-simd.wasm (scripts/wasm-module-source.mjs).
  bytes ??= botSimdWasm;
  return bytes;
}

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
};

/**
 * The module with its one import, env.memory, declared shared (limits flag 0x03, maximum 65536
 * pages = 4 GiB, so any emscripten maximum fits): the threaded build's memory is a
 * SharedArrayBuffer, and a non-shared import does not link to it. The code is the same (it uses
 * no atomics); clang's own shared build, src/kernels/bot-simd-shared.wasm, is what a test checks
 * this against, byte for byte. Throws if the import section is not the one expected.
 */
export function toSharedMemoryImport(b: Uint8Array): Uint8Array {
  let p = 8;
  const readU32 = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const x = b[p++]!;
      result += (x & 0x7f) * 2 ** shift;
      if (!(x & 0x80)) return result;
      shift += 7;
    }
  };
  while (p < b.length) {
    const start = p;
    const id = b[p++]!;
    const size = readU32();
    const body = p;
    if (id === 2) {
      // vec(1) "env" "memory" kind=memory flags=0 min
      const want = [1, 3, 0x65, 0x6e, 0x76, 6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 2, 0];
      for (let i = 0; i < want.length; i++) {
        if (b[body + i] !== want[i]) throw new Error('internal: unexpected import section in bot-simd.wasm');
      }
      const min = b.subarray(body + want.length, body + size);
      const content = [...want.slice(0, -1), 3, ...min, ...uleb(65536)];
      const out = new Uint8Array(b.length - (body + size - start) + 1 + uleb(content.length).length + content.length);
      out.set(b.subarray(0, start), 0);
      let q = start;
      out[q++] = 2;
      for (const x of uleb(content.length)) out[q++] = x;
      out.set(content, q);
      q += content.length;
      out.set(b.subarray(body + size), q);
      return out;
    }
    p = body + size;
  }
  throw new Error('internal: bot-simd.wasm has no import section');
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
 * tensors; null where they cannot run (no WebAssembly SIMD). The threaded build's memory is a
 * SharedArrayBuffer: there the module is instantiated with its import declared shared (the
 * kernels run on the calling thread; XNNPACK's other kernels keep the thread pool).
 * Browsers refuse synchronous compiles and instantiations of modules over 4 KB on the main
 * thread (a RangeError): then this returns null (the caller uses its XNNPACK fallback) and
 * instantiates in the background; later calls get the kernels.
 */
export function simdKernels(backend: WasmBackendLike): SimdExports | null {
  if (simdDisabledByEnv()) return null;
  const wasm = (backend as Partial<EmscriptenBackend>).wasm;
  const memory = wasm?.asm?.memory ?? wasm?.wasmMemory;
  if (!memory || unavailable) return null;
  const cached = instances.get(memory);
  if (cached) return cached;
  if (pending.has(memory)) return null;
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  try {
    let module: WebAssembly.Module;
    if (shared) {
      sharedBytes ??= toSharedMemoryImport(moduleBytes());
      module = compiledShared ??= new WebAssembly.Module(sharedBytes as BufferSource);
    } else {
      module = compiled ??= new WebAssembly.Module(moduleBytes() as BufferSource);
    }
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    const exports = instance.exports as unknown as SimdExports;
    instances.set(memory, exports);
    return exports;
  } catch (e) {
    if (e instanceof RangeError) instantiateInBackground(memory, shared);
    else unavailable = `instantiate failed: ${String(e)}`;
    return null;
  }
}

const pending = new WeakSet<WebAssembly.Memory>();

function instantiateInBackground(memory: WebAssembly.Memory, shared: boolean): void {
  pending.add(memory);
  const imports = { env: { memory } };
  const ready = shared ? compiledShared : compiled;
  const instance: Promise<WebAssembly.Instance> = ready
    ? WebAssembly.instantiate(ready, imports)
    : WebAssembly.instantiate((shared ? (sharedBytes ??= toSharedMemoryImport(moduleBytes())) : moduleBytes()) as BufferSource, imports).then(
        (r) => {
          if (shared) compiledShared ??= r.module;
          else compiled ??= r.module;
          return r.instance;
        },
      );
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
  return backendFlag('BOT_WASM_SIMD') === 'never';
}

/** The heap byte offset of a tensor's data. */
export function heapOffset(backend: EmscriptenBackend, dataId: object): number {
  const entry = backend.dataIdMap.get(dataId);
  if (!entry) throw new Error('internal: tensor data is not on the wasm heap');
  return entry.memoryOffset;
}

/**
 * Runs `fn` with scratch buffers of the given byte sizes malloc'ed on the wasm heap (a size of 0 gives
 * pointer 0: an optional buffer), and frees them afterwards, whatever happens. The module owns no
 * memory (no data section, no stack): every kernel's scratch comes from here.
 */
export function withScratch<T>(backend: EmscriptenBackend, where: string, sizes: readonly number[], fn: (...ptrs: number[]) => T): T {
  const ptrs: number[] = [];
  try {
    for (const size of sizes) {
      const p = size > 0 ? backend.wasm._malloc(size) : 0;
      if (size > 0 && !p) throw new Error(`${where}: out of wasm memory for ${size} bytes of scratch`);
      ptrs.push(p);
    }
    return fn(...ptrs);
  } finally {
    for (let i = ptrs.length - 1; i >= 0; i--) if (ptrs[i]) backend.wasm._free(ptrs[i]!);
  }
}
