#!/usr/bin/env node
// Compiles src/native/kernels.cc into dist/native/bot_native.node (a Node-API addon) with the
// system C++ compiler: `c++ -O3 -march=native -fPIC -shared -pthread -I<node headers>`.
// Run by the package's `build` (turbo, CI) and `install` (users installing from npm) scripts.
// A failed compile never fails the install: it prints why, writes the reason to
// dist/native/build-error.txt (nativeLoadError() reports it) and exits 0. `--strict` (or
// BOT_NATIVE_STRICT=1) exits 1 instead.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist', 'native');
const out = join(outDir, 'bot_native.node');
const errorFile = join(outDir, 'build-error.txt');
const source = join(root, 'src', 'native', 'kernels.cc');
const strict = process.argv.includes('--strict') || process.env.BOT_NATIVE_STRICT === '1';

function fail(reason) {
  mkdirSync(outDir, { recursive: true });
  rmSync(out, { force: true }); // never leave a stale addon from an older source behind
  writeFileSync(errorFile, reason + '\n');
  console.warn(`[@bag-of-tricks/native-kernels] native addon NOT built: ${reason}`);
  console.warn('[@bag-of-tricks/native-kernels] this is optional: @bag-of-tricks/backend keeps using the wasm kernels.');
  process.exit(strict ? 1 : 0);
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  fail(`only Linux x64 is supported for now (this is ${process.platform} ${process.arch})`);
}
if (process.env.BOT_NATIVE_SKIP_BUILD === '1') fail('BOT_NATIVE_SKIP_BUILD=1');
if (!existsSync(source)) fail(`source ${source} is missing`);

// Node's headers: $BOT_NODE_INCLUDE, npm's nodedir, next to this node binary, or the system's.
const candidates = [
  process.env.BOT_NODE_INCLUDE,
  process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'),
  join(dirname(process.execPath), '..', 'include', 'node'),
  '/usr/include/node',
  '/usr/local/include/node',
].filter(Boolean);
const include = candidates.find((dir) => existsSync(join(dir, 'node_api.h')));
if (!include) {
  fail(`node_api.h not found (looked in ${candidates.join(', ')}); install Node's headers (e.g. apt-get install libnode-dev) or set BOT_NODE_INCLUDE`);
}

const cxx = process.env.CXX || 'c++';
const args = [
  '-O3',
  '-march=native',
  '-std=c++17',
  '-fPIC',
  '-shared',
  '-pthread',
  '-fvisibility=hidden',
  '-DNODE_GYP_MODULE_NAME=bot_native',
  `-I${include}`,
  source,
  '-o',
  `${out}.${process.pid}.tmp`,
];
mkdirSync(outDir, { recursive: true });
const t0 = Date.now();
const run = spawnSync(cxx, args, { encoding: 'utf8' });
if (run.error) fail(`could not run the C++ compiler '${cxx}' (${run.error.message}); install g++ (apt-get install g++) or set CXX`);
if (run.status !== 0) {
  rmSync(`${out}.${process.pid}.tmp`, { force: true });
  const detail = (run.stderr || run.stdout || '').trim().split('\n').slice(0, 12).join('\n');
  fail(`'${cxx} ${args.join(' ')}' failed (exit ${run.status}):\n${detail}`);
}
// Renamed into place in one step, so a process loading the addon meanwhile sees the old or the new file.
renameSync(`${out}.${process.pid}.tmp`, out);
rmSync(errorFile, { force: true });
// -march=native: record the CPU's flags, so a copy of this build on another CPU (a container image, a
// copied node_modules) is refused at load with a clear reason instead of dying on an illegal instruction.
const flags = (/^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
writeFileSync(join(outDir, 'build-cpu.json'), JSON.stringify({ flags }) + '\n');
console.log(`[@bag-of-tricks/native-kernels] built ${out.replace(root + '/', '')} with ${cxx} -O3 -march=native in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
