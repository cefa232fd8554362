import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missingIsaFlags } from '../src/addon';
import { nativeKernelsAvailable } from '../src/index';

describe('an addon built with -march=native on another CPU is refused, not run', () => {
  it('names the instruction sets the build CPU had and this one lacks; other flags do not matter', () => {
    const built = ['fpu', 'sse4_2', 'avx2', 'fma', 'avx512f', 'avx512bw', 'hypervisor', 'constant_tsc'];
    expect(missingIsaFlags(built, ['fpu', 'sse4_2', 'avx2', 'fma'])).toEqual(['avx512f', 'avx512bw']);
    expect(missingIsaFlags(built, ['sse4_2', 'avx2', 'fma', 'avx512f', 'avx512bw'])).toEqual([]); // no hypervisor: fine
    expect(missingIsaFlags(['avx2'], ['avx2', 'avx512f'])).toEqual([]); // a newer CPU: fine
  });

  it("the build recorded this machine's flags, and they pass the check here", () => {
    const file = join(__dirname, '..', 'dist', 'native', 'build-cpu.json');
    const flags = (JSON.parse(readFileSync(file, 'utf8')) as { flags: string[] }).flags;
    const current = /^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))![1]!.trim().split(/\s+/);
    expect(flags.length).toBeGreaterThan(10);
    expect(missingIsaFlags(flags, current)).toEqual([]);
    expect(nativeKernelsAvailable()).toBe(true);
  });
});
