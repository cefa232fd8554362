#!/usr/bin/env node
// Rebuilds our wasm SIMD kernels from csrc/*.c with Debian's clang 14 + lld:
//   src/kernels/bot-simd.wasm         the module (committed), importing non-shared memory
//   (no committed base64 copy: `tsup` embeds bot-simd.wasm into dist at build time, and vitest does the
//   same for tests, both through scripts/wasm-module-source.mjs, so bundlers and the browser still get
//   the module without loading a file, and the .wasm checked here is the only copy)
//   src/kernels/bot-simd-shared.wasm  the same code importing shared memory (the threaded build's),
//                                     committed as the reference the runtime patch of the import is
//                                     tested against; not embedded (simd-module.ts derives it)
// `node scripts/build-wasm.mjs --check` rebuilds into a temp dir and fails if the committed files
// differ. CI has no clang, so this is not part of `npm test`; run it after editing csrc/.
// CLANG=/path/to/clang overrides the compiler.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const csrc = path.join(root, 'csrc');
const wasmPath = path.join(root, 'src/kernels/bot-simd.wasm');
const sharedPath = path.join(root, 'src/kernels/bot-simd-shared.wasm');
const check = process.argv.includes('--check');
const clang = process.env.CLANG ?? 'clang';

const sources = readdirSync(csrc).filter((f) => f.endsWith('.c')).sort().map((f) => path.join(csrc, f));
const tmp = mkdtempSync(path.join(tmpdir(), 'bot-simd-'));
const out = path.join(tmp, 'bot-simd.wasm');
const outShared = path.join(tmp, 'bot-simd-shared.wasm');
const flags = [
  '--target=wasm32',
  '-O3',
  '-msimd128',
  '-mbulk-memory',
  '-mnontrapping-fptoint',
  '-ffreestanding',
  '-nostdlib',
  '-fno-builtin',
  '-Wall',
  '-Werror',
  '-Wl,--no-entry',
  '-Wl,--import-memory',
  '-Wl,--strip-all',
  '-Wl,-z,stack-size=0',
  '-Wl,--initial-memory=65536',
];
const sharedFlags = ['-matomics', '-Wl,--shared-memory', '-Wl,--max-memory=4294967296'];
try {
  execFileSync(clang, [...flags, '-o', out, ...sources], { stdio: 'inherit', cwd: root });
  execFileSync(clang, [...flags, ...sharedFlags, '-o', outShared, ...sources], { stdio: 'inherit', cwd: root });
} catch (e) {
  rmSync(tmp, { recursive: true, force: true });
  console.error(`build-wasm: ${clang} failed (${e.message}). Install clang 14 and lld (apt-get install clang lld) or set CLANG.`);
  process.exit(1);
}
const bytes = readFileSync(out);
const sharedBytes = readFileSync(outShared);
rmSync(tmp, { recursive: true, force: true });


if (check) {
  const problems = [];
  if (!existsSync(wasmPath) || !readFileSync(wasmPath).equals(bytes)) problems.push(path.relative(root, wasmPath));
  if (!existsSync(sharedPath) || !readFileSync(sharedPath).equals(sharedBytes)) problems.push(path.relative(root, sharedPath));
  if (problems.length) {
    console.error(`build-wasm --check: ${problems.join(' and ')} differ from a fresh build of csrc/; run \`npm run build:wasm\` and commit.`);
    process.exit(1);
  }
  console.log(`build-wasm --check: committed module matches a fresh build (${bytes.length} bytes).`);
} else {
  writeFileSync(wasmPath, bytes);
  writeFileSync(sharedPath, sharedBytes);
  console.log(
    `build-wasm: wrote ${path.relative(root, wasmPath)} (${bytes.length} bytes) and ${path.relative(root, sharedPath)}.`,
  );
}
