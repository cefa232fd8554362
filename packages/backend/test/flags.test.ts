import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { BACKEND_FLAGS, backendFlag, effectiveBackendFlags } from '../src/flags';
import { winogradWanted } from '../src/kernels/winograd';

const touched = new Set<string>();
const setEnv = (name: string, value: string): void => {
  touched.add(name);
  process.env[name] = value;
};
afterEach(() => {
  for (const name of touched) delete process.env[name];
  touched.clear();
});

describe('backend flags: one registry', () => {
  it('declares the 17 switches the package reads, each with a description', () => {
    expect(Object.keys(BACKEND_FLAGS).sort()).toEqual(
      [
        'BOT_BACKEND', 'BOT_BPF_GEMM', 'BOT_BPI_DIRECT', 'BOT_BPI_GEMM', 'BOT_FUSED_MATMUL', 'BOT_MAXPOOL_GRAD_SIMD', 'BOT_NATIVE',
        'BOT_NATIVE_FUSED', 'BOT_NATIVE_NO_DIRECT_BF16', 'BOT_NATIVE_NO_WINOGRAD', 'BOT_NATIVE_OPTIMIZER',
        'BOT_NATIVE_THREADS', 'BOT_OUTER_PRODUCT', 'BOT_POINTWISE', 'BOT_WASM_SIMD', 'BOT_WASM_THREADS', 'BOT_WINOGRAD',
      ].sort(),
    );
    for (const spec of Object.values(BACKEND_FLAGS)) expect(spec.description.length).toBeGreaterThan(20);
  });

  it('no source file but flags.ts reads the environment, and every BOT_ name used in src is declared', () => {
    const src = fileURLToPath(new URL('../src', import.meta.url));
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const f of readdirSync(dir)) {
        const p = join(dir, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) files.push(p);
      }
    };
    walk(src);
    const readers = files.filter((f) => !f.endsWith('flags.ts') && /process\??\.env|\.env\?\.\[|\benv\?\./.test(readFileSync(f, 'utf8')));
    expect(readers.map((f) => f.slice(src.length + 1))).toEqual(['native.ts']); // VITEST only: not a switch of ours
    expect(readFileSync(join(src, 'native.ts'), 'utf8').match(/env\?\.(\w+)/g)).toEqual(['env?.BOT_NATIVE', 'env?.VITEST']);
    const used = new Set(files.flatMap((f) => readFileSync(f, 'utf8').match(/\bBOT_[A-Z_]+\b/g) ?? []));
    for (const name of used) expect(Object.keys(BACKEND_FLAGS), name).toContain(name);
  });

  it("the native addon's C++ reads no environment: its switches come from this registry through its API", () => {
    const dir = fileURLToPath(new URL('../../native-kernels/src/native', import.meta.url));
    for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f), 'utf8'), f).not.toMatch(/getenv/);
  });

  it('parses never/always/auto in one place, with the usual spellings', () => {
    expect(backendFlag('BOT_WINOGRAD')).toBe('auto');
    for (const [raw, want] of [['never', 'never'], ['0', 'never'], ['OFF', 'never'], ['false', 'never'], ['always', 'always'], ['1', 'always'], ['on', 'always'], [' auto ', 'auto'], ['', 'auto']] as const) {
      setEnv('BOT_WINOGRAD', raw);
      expect(backendFlag('BOT_WINOGRAD'), raw).toBe(want);
    }
  });

  it('a value it does not understand is refused, naming the flag, the value and what it takes', () => {
    setEnv('BOT_BPF_GEMM', 'sometimes');
    expect(() => backendFlag('BOT_BPF_GEMM')).toThrow(/^BOT_BPF_GEMM=sometimes is not understood: use never \(or 0\/off\), always \(or 1\/on\) or auto\./);
    setEnv('BOT_NATIVE_THREADS', '0');
    expect(() => backendFlag('BOT_NATIVE_THREADS')).toThrow(/BOT_NATIVE_THREADS=0 is not understood: use a positive integer/);
    setEnv('BOT_BACKEND', 'webgpu');
    expect(() => backendFlag('BOT_BACKEND')).toThrow(/BOT_BACKEND=webgpu is not understood: use one of auto, tensorflow, wasm, cpu/);
  });

  it('counts and choices: parsed, unset when absent', () => {
    expect(backendFlag('BOT_NATIVE_THREADS')).toBeUndefined();
    setEnv('BOT_NATIVE_THREADS', '3');
    expect(backendFlag('BOT_NATIVE_THREADS')).toBe(3);
    setEnv('BOT_BACKEND', 'CPU');
    expect(backendFlag('BOT_BACKEND')).toBe('cpu');
  });

  it('a kernel choice follows the flag on every call (A/B in one process)', () => {
    // ResNet-20's 32x32x16 -> 16 3x3 conv: Winograd by the table (>= 4 pixels, >= 16 channels).
    expect(winogradWanted('forward', 32, 32, 16, 16)).toBe(true);
    setEnv('BOT_WINOGRAD', 'never');
    expect(winogradWanted('forward', 32, 32, 16, 16)).toBe(false);
    // 8 channels: not by the table, but forced.
    setEnv('BOT_WINOGRAD', 'always');
    expect(winogradWanted('forward', 32, 32, 8, 8)).toBe(true);
  });

  it('effectiveBackendFlags says each value and whether it came from the environment', () => {
    setEnv('BOT_OUTER_PRODUCT', 'never');
    const flags = Object.fromEntries(effectiveBackendFlags().map((f) => [f.name, f]));
    expect(flags.BOT_OUTER_PRODUCT).toMatchObject({ value: 'never', source: 'env' });
    expect(flags.BOT_MAXPOOL_GRAD_SIMD).toMatchObject({ value: 'auto', source: 'default' });
    expect(flags.BOT_WASM_THREADS).toMatchObject({ value: 'unset', source: 'default' });
  });
});
