import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect, it } from 'vitest';

// The addon must compile for the CPUs it claims to support, not only for this one: an AVX2 machine (-march=haswell;
// the AVX2 build failed to compile until 2026-12-06: a helper sat inside the bf16-only block) and an AVX-512 CPU
// without AVX512_BF16 (-mno-avx512bf16). Compile-only, both at once; the flags are scripts/build.mjs's.
const source = join(__dirname, '..', 'src', 'native', 'kernels.cc');
const include = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node'].find((d) => existsSync(join(d, 'node_api.h')));

function compile(target: string[], out: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const args = ['-O1', ...target, '-std=c++17', '-fPIC', '-shared', '-pthread', '-fvisibility=hidden', '-DNODE_GYP_MODULE_NAME=bot_native', `-I${include}`, source, '-o', out];
    const p = spawn(process.env.CXX || 'c++', args);
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stderr: stderr.slice(0, 2000) }));
  });
}

it.skipIf(!include || process.platform !== 'linux' || process.arch !== 'x64')('kernels.cc compiles for AVX2 and for AVX-512 without AVX512_BF16', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bot-native-targets-'));
  try {
    const [avx2, noBf16] = await Promise.all([
      compile(['-march=haswell'], join(dir, 'avx2.node')),
      compile(['-march=native', '-mno-avx512bf16'], join(dir, 'nobf16.node')),
    ]);
    expect(avx2, 'AVX2 build').toMatchObject({ code: 0 });
    expect(noBf16, 'AVX-512 without BF16 build').toMatchObject({ code: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);
