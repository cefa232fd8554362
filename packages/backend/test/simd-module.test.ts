import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import embedded from '../src/kernels/bot-simd.wasm';

const wasmPath = fileURLToPath(new URL('../src/kernels/bot-simd.wasm', import.meta.url));
const bytes = new Uint8Array(readFileSync(wasmPath));

// ---- a small, independent wasm binary reader (spec: https://webassembly.github.io/spec/core/binary/) ----
class Reader {
  constructor(
    readonly b: Uint8Array,
    public p = 0,
  ) {}
  byte(): number {
    if (this.p >= this.b.length) throw new Error('unexpected end of wasm');
    return this.b[this.p++]!;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const x = this.byte();
      result += (x & 0x7f) * 2 ** shift;
      if (!(x & 0x80)) return result;
      shift += 7;
    }
  }
  /** Signed LEB (value unused: only skipped). */
  sleb(): void {
    while (this.byte() & 0x80);
  }
  skip(n: number): void {
    this.p += n;
  }
  name(): string {
    const n = this.u32();
    const s = new TextDecoder().decode(this.b.subarray(this.p, this.p + n));
    this.p += n;
    return s;
  }
}

function sections(b: Uint8Array): { id: number; start: number; size: number }[] {
  expect(Array.from(b.subarray(0, 8))).toEqual([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
  const r = new Reader(b, 8);
  const out: { id: number; start: number; size: number }[] = [];
  while (r.p < b.length) {
    const id = r.byte();
    const size = r.u32();
    out.push({ id, start: r.p, size });
    r.skip(size);
  }
  return out;
}

/** Every opcode in a function body, as 'xx' or 'fc:n' / 'fd:n'; throws on an opcode it does not know. */
function opcodes(r: Reader, end: number): string[] {
  const ops: string[] = [];
  const memarg = () => (r.u32(), r.u32());
  while (r.p < end) {
    const op = r.byte();
    if (op === 0xfc || op === 0xfd) {
      const sub = r.u32();
      ops.push(`${op.toString(16)}:${sub}`);
      if (op === 0xfc) {
        if (sub <= 7) continue; // saturating truncations
        if (sub === 10) r.skip(2); // memory.copy
        else if (sub === 11) r.skip(1); // memory.fill
        else throw new Error(`unknown 0xfc ${sub}`);
        continue;
      }
      if (sub <= 11 || sub === 92 || sub === 93) memarg(); // v128 loads and stores
      else if (sub >= 84 && sub <= 91) (memarg(), r.skip(1)); // lane loads / stores
      else if (sub === 12 || sub === 13) r.skip(16); // v128.const, i8x16.shuffle
      else if (sub >= 21 && sub <= 34) r.skip(1); // extract / replace lane
      continue;
    }
    ops.push(op.toString(16).padStart(2, '0'));
    if (op === 0x02 || op === 0x03 || op === 0x04) {
      const t = r.b[r.p]!;
      if (t === 0x40 || t >= 0x6f) r.skip(1); // empty or value type
      else r.sleb(); // type index
    } else if (op === 0x0c || op === 0x0d || op === 0x10 || (op >= 0x20 && op <= 0x24)) r.u32();
    else if (op === 0x0e) {
      const n = r.u32();
      for (let i = 0; i <= n; i++) r.u32();
    } else if (op === 0x11) (r.u32(), r.u32());
    else if (op >= 0x28 && op <= 0x3e) memarg();
    else if (op === 0x3f || op === 0x40) r.skip(1);
    else if (op === 0x41 || op === 0x42) r.sleb();
    else if (op === 0x43) r.skip(4);
    else if (op === 0x44) r.skip(8);
    else if (op === 0x1c) {
      const n = r.u32();
      r.skip(n);
    } else if (!(op <= 0x01 || op === 0x05 || op === 0x0b || op === 0x0f || op === 0x1a || op === 0x1b || (op >= 0x45 && op <= 0xc4))) {
      throw new Error(`unknown opcode 0x${op.toString(16)} at ${r.p - 1}`);
    }
  }
  return ops;
}

describe('the wasm SIMD module (src/kernels/bot-simd.wasm)', () => {
  const secs = sections(bytes);

  it('owns no memory: no data section, no memory of its own, imports a non-shared env.memory only', () => {
    const ids = secs.map((s) => s.id);
    expect(ids).not.toContain(11); // data
    expect(ids).not.toContain(12); // data count
    expect(ids).not.toContain(5); // memory (its own)
    const imp = secs.find((s) => s.id === 2)!;
    const r = new Reader(bytes, imp.start);
    const count = r.u32();
    expect(count).toBe(1);
    expect([r.name(), r.name()]).toEqual(['env', 'memory']);
    expect(r.byte()).toBe(0x02); // kind: memory
    const flags = r.byte();
    expect(flags & 0x02).toBe(0); // not shared: the single-threaded build's memory is a plain ArrayBuffer
  });

  it('never touches a global (so no shadow-stack pointer) in any function body', () => {
    const code = secs.find((s) => s.id === 10)!;
    const r = new Reader(bytes, code.start);
    const n = r.u32();
    expect(n).toBeGreaterThanOrEqual(3);
    const all: string[] = [];
    for (let i = 0; i < n; i++) {
      const size = r.u32();
      const end = r.p + size;
      const groups = r.u32();
      for (let g = 0; g < groups; g++) (r.u32(), r.skip(1));
      all.push(...opcodes(r, end));
      expect(r.p).toBe(end);
    }
    expect(all.length).toBeGreaterThan(500);
    expect(all).toContain('fd:228'); // f32x4.add: it is SIMD code
    expect(all).not.toContain('23'); // global.get
    expect(all).not.toContain('24'); // global.set
  });

  it('exports the eleven kernels and validates', () => {
    const mod = new WebAssembly.Module(bytes);
    expect(WebAssembly.Module.exports(mod).map((e) => e.name).sort()).toEqual(
      ['binary_broadcast', 'conv2d_backprop_filter', 'conv2d_backprop_filter_gemm', 'conv2d_backprop_input', 'conv2d_backprop_input_gemm', 'max_pool_grad', 'outer_product', 'pointwise_gemm', 'winograd_backprop_filter', 'winograd_conv3x3', 'winograd_filter'],
    );
    expect(WebAssembly.Module.imports(mod)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
  });

  it('the copy embedded at build time (dist/index.js) and the one tests load are byte-identical to the committed .wasm', () => {
    // dist is built before the tests (turbo: test depends on build); the module is base64 in an atob("...") call.
    const dist = readFileSync(fileURLToPath(new URL('../dist/index.js', import.meta.url)), 'utf8');
    const literals = [...dist.matchAll(/atob\(("[A-Za-z0-9+/=]+")\)/g)].map((m) => Buffer.from(JSON.parse(m[1]!) as string, 'base64'));
    expect(literals.filter((b) => b.equals(Buffer.from(bytes)))).toHaveLength(1);
    expect(Buffer.from(embedded).equals(Buffer.from(bytes))).toBe(true);
  });
});

describe('instantiating on a memory', () => {
  it('falls back to null and instantiates in the background when synchronous instantiation is refused (browser main thread)', async () => {
    const { simdKernels } = await import('../src/kernels/simd-module');
    const memory = new WebAssembly.Memory({ initial: 2 });
    const backend = { wasm: { asm: { memory } } } as unknown as Parameters<typeof simdKernels>[0];
    const original = WebAssembly.Instance;
    const instantiate = WebAssembly.instantiate;
    // The background instantiation is awaited through the promise it starts, not a sleep.
    const started: Promise<unknown>[] = [];
    (WebAssembly as { instantiate: unknown }).instantiate = (...args: Parameters<typeof instantiate>) => {
      const p = instantiate(...args);
      started.push(p);
      return p;
    };
    // What Chrome throws for modules over 4 KB on the main thread.
    (WebAssembly as { Instance: unknown }).Instance = function refuse() {
      throw new RangeError('WebAssembly.Instance is disallowed on the main thread, if the buffer size is larger than 4KB.');
    };
    let k: ReturnType<typeof simdKernels> = null;
    try {
      expect(simdKernels(backend)).toBeNull();
      expect(simdKernels(backend)).toBeNull(); // still pending: no second instantiation
      expect(started).toHaveLength(1);
      await started[0];
      // Its continuation (which stores the instance) was queued before ours: a few microtask turns at most.
      // Synchronous instantiation is still refused here, so kernels can only come from the background one.
      k = simdKernels(backend);
      for (let turn = 0; turn < 5 && !k; turn++) {
        await Promise.resolve();
        k = simdKernels(backend);
      }
    } finally {
      (WebAssembly as { Instance: unknown }).Instance = original;
      (WebAssembly as { instantiate: unknown }).instantiate = instantiate;
    }
    expect(started).toHaveLength(1);
    expect(k).not.toBeNull();
    // It runs on that memory: 2 x [1,4] + per-channel [4] at byte offsets 0, 64, 128.
    const f = new Float32Array(memory.buffer);
    f.set([1, 2, 3, 4, 5, 6, 7, 8], 0);
    f.set([10, 20, 30, 40], 16);
    k!.binary_broadcast(0, 64, 128, 8, 4, 0, 0);
    expect(Array.from(new Float32Array(memory.buffer, 128, 8))).toEqual([11, 22, 33, 44, 15, 26, 37, 48]);
  });

  it('runs on a shared memory (the threaded build) through the patched import', async () => {
    const { simdKernels } = await import('../src/kernels/simd-module');
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
    const k = simdKernels({ wasm: { asm: { memory } } } as unknown as Parameters<typeof simdKernels>[0]);
    expect(k).not.toBeNull();
    const f = new Float32Array(memory.buffer);
    f.set([1, 2, 3, 4, 5, 6, 7, 8], 0);
    f.set([10, 20, 30, 40], 16);
    k!.binary_broadcast(0, 64, 128, 8, 4, 1, 1); // b - a
    expect(Array.from(new Float32Array(memory.buffer, 128, 8))).toEqual([9, 18, 27, 36, 5, 14, 23, 32]);
  });
});

describe('the shared-memory variant', () => {
  it("the runtime patch of the import equals clang's own --shared-memory build, byte for byte", async () => {
    const { toSharedMemoryImport } = await import('../src/kernels/simd-module');
    const shared = new Uint8Array(readFileSync(fileURLToPath(new URL('../src/kernels/bot-simd-shared.wasm', import.meta.url))));
    const patched = toSharedMemoryImport(bytes);
    expect(patched.length).toBe(shared.length);
    expect(Buffer.from(patched).equals(Buffer.from(shared))).toBe(true);
    const r = new Reader(shared, sections(shared).find((x) => x.id === 2)!.start);
    r.u32();
    expect([r.name(), r.name(), r.byte(), r.byte()]).toEqual(['env', 'memory', 2, 3]); // shared, with a maximum
  });
});
