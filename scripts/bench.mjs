#!/usr/bin/env node
// `npm run bench`: training img/s of CIFAR ResNet-20 (32x32x3, batch 64) and ResNet-50 (64x64x3,
// batch 32) on every available tfjs backend, beside PyTorch on the same models and cores, with
// ratios, peak RSS, a per-kernel profile of the ResNet-20 step, and (when present) the data
// pipeline bench and the backend's kernel bench. Prints a table; writes bench-results/bench.json.
//
// Every configuration runs in its own process (wasm's thread count is fixed per process).
// Rows: wasm (BOT_NATIVE=0: what a browser gets) at 1 thread, N wasm threads, N data-parallel replicas;
// wasm + native convolutions (@bag-of-tricks/native-kernels) at 1 and N native threads and N replicas.
// bfloat16 (AVX512_BF16 CPUs): wasm + native convolutions with precision 'bfloat16' at N native threads, beside
// PyTorch under torch.autocast('cpu', dtype=torch.bfloat16) on N threads.
// Browser rows (ResNet-20): the same step in headless Chromium (Debian's /usr/bin/chromium via playwright-core) on
// examples/browser's production build, wasm with our SIMD kernels in Web Workers: 1 worker and N data-parallel workers.
// Env: BENCH_SECONDS (per measurement, default 6), BENCH_SKIP=build,pipeline,kernels,resnet20,resnet50,cpu,torch,native,threads,browser,
//      bf16 (the bfloat16 rows), wasm (the wasm-only rows), single (the 1-core rows), multi (the N-core rows),
//      BENCH_CPU_BATCH (cpu backend's single step, default 4), BOT_BACKEND=tensorflow to bench
//      tfjs-node(-gpu) only (see docs/SPEED.md).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const skip = new Set((env.BENCH_SKIP ?? '').split(',').filter(Boolean));
const seconds = Number(env.BENCH_SECONDS ?? 6);
const cores = os.availableParallelism?.() ?? os.cpus().length;
const log = (...a) => console.log(...a);
const started = Date.now();

function run(cmd, args, { cwd = root, timeoutS = 1200, extraEnv = {} } = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutS * 1000, env: { ...env, ...extraEnv }, maxBuffer: 64 << 20 });
  const why = r.error?.message ?? (r.status !== 0 ? `exit ${r.status ?? r.signal}: ${(r.stderr ?? '').slice(-400)} ${(r.stdout ?? '').slice(-400)}` : undefined);
  return { ok: r.status === 0, stdout: r.stdout ?? '', stderr: r.stderr ?? '', status: r.status, error: why };
}
const lastJson = (text) => {
  const line = text.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  return line ? JSON.parse(line) : undefined;
};

// ---------- build ----------
if (!skip.has('build')) {
  log('building backend, native-kernels, resnet-variants, data, augment, trainer (and what they depend on) ...');
  const pkgs = ['backend', 'native-kernels', 'resnet-variants', 'data', 'augment', 'trainer'].flatMap((p) => ['--filter', `@bag-of-tricks/${p}...`]);
  if (!skip.has('browser')) pkgs.push('--filter', '@bag-of-tricks/example-browser...');
  const b = run('npx', ['turbo', 'run', 'build', ...pkgs, '--output-logs=errors-only']);
  if (!b.ok) log(`build failed (continuing with the dist folders present):\n${(b.stdout + b.stderr).slice(-2000)}`);
}

// ---------- the backend's switches (packages/backend/src/flags.ts), as this process's environment sets them ----------
const { effectiveBackendFlags } = await import('@bag-of-tricks/backend');
const flags = effectiveBackendFlags();
log('backend flags (rows below add their own BOT_NATIVE / BOT_NATIVE_THREADS / BOT_BACKEND):');
for (const f of flags) log(`  ${f.name.padEnd(22)} ${f.value.padEnd(7)} (${f.source})`);

// ---------- which interpreter has torch ----------
function findTorchPython() {
  if (skip.has('torch')) return undefined;
  for (const py of [env.BENCH_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean)) {
    const r = run(py, ['-c', 'import torch, torchvision; print(torch.__version__)'], { timeoutS: 120 });
    if (r.ok) return { py, version: r.stdout.trim() };
  }
  return undefined;
}
const torch = findTorchPython();
log(torch ? `PyTorch ${torch.version} via ${torch.py}` : 'PyTorch: not importable here, column skipped');

// ---------- backends present ----------
const wantTensorflow = env.BOT_BACKEND === 'tensorflow';
const tfNodeOk = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'].some(
  (p) => run('node', ['-e', `import(${JSON.stringify(p)}).then(()=>process.exit(0),()=>process.exit(1))`], { timeoutS: 120 }).ok,
);
const childEnv = { BOT_BACKEND: '' }; // the child gets its backend from --backend

// ---------- training steps ----------
const models = [
  ...(skip.has('resnet20') ? [] : [{ key: 'resnet20', model: 'resnet20', size: 32, batch: 64, classes: 10, label: 'CIFAR ResNet-20, 32x32x3, batch 64' }]),
  ...(skip.has('resnet50') ? [] : [{ key: 'resnet50', model: 'resnet50', size: 64, batch: 32, classes: 1000, label: 'ResNet-50 (A), 64x64x3, batch 32, 1000 classes' }]),
];
const threadCounts = [...new Set([...(skip.has('single') ? [] : [1]), ...(skip.has('multi') ? [] : [cores])])];

// Node's optional native convolutions (@bag-of-tricks/native-kernels): rows with and without them.
const nativeOk =
  !skip.has('native') &&
  run('node', ['-e', "import('@bag-of-tricks/native-kernels').then((m) => process.exit(m.nativeKernelsAvailable() ? 0 : 1), () => process.exit(1))"], { timeoutS: 120 }).ok;
log(nativeOk ? 'native kernels: built, measured as their own rows' : 'native kernels: not available, rows skipped');
// bfloat16 rows: the native kernels on a CPU with AVX512_BF16 (nativeBf16Support says why not).
const bf16Probe = nativeOk && !skip.has('bf16')
  ? run('node', ['-e', "import('@bag-of-tricks/native-kernels').then((m) => { const s = m.nativeBf16Support(); console.log(s.reason ?? ''); process.exit(s.supported ? 0 : 1); })"], { timeoutS: 120 })
  : undefined;
const bf16Ok = !!bf16Probe?.ok;
log(bf16Ok ? 'bfloat16: AVX512_BF16 present, native bf16 rows and PyTorch autocast bf16 rows measured' : `bfloat16 rows skipped (${skip.has('bf16') ? 'BENCH_SKIP' : bf16Probe ? bf16Probe.stdout.trim() || bf16Probe.error : 'no native kernels'})`);

/**
 * The tfjs configurations, each in its own process. `cores` is what the row uses: PyTorch's row with
 * the same thread count is its peer. wasm rows run with BOT_NATIVE=0 (what a browser gets).
 */
const variants = (m) => [
  ...(skip.has('wasm') ? [] : [
  { engine: 'tfjs-wasm', cores: 1, env: { BOT_NATIVE: '0' }, args: ['--threads', '1', ...(m.key === 'resnet20' ? ['--profile'] : [])] },
  ...(cores > 1
    ? [
        { engine: 'tfjs-wasm threads', cores, env: { BOT_NATIVE: '0' }, args: ['--threads', String(cores)] },
        { engine: 'tfjs-wasm dp', cores, env: { BOT_NATIVE: '0' }, args: ['--threads', '1', '--dp', String(cores)] },
      ]
    : []),
  ]),
  ...(nativeOk
    ? [
        { engine: 'tfjs-wasm+native', cores: 1, env: { BOT_NATIVE: '1', BOT_NATIVE_THREADS: '1' }, args: ['--threads', '1'] },
        ...(cores > 1
          ? [
              { engine: 'tfjs-wasm+native', cores, env: { BOT_NATIVE: '1', BOT_NATIVE_THREADS: String(cores) }, args: ['--threads', '1'] },
              { engine: 'tfjs-wasm+native dp', cores, env: { BOT_NATIVE: '1', BOT_NATIVE_THREADS: '1' }, args: ['--threads', '1', '--dp', String(cores)] },
            ]
          : []),
      ]
    : []),
  ...(bf16Ok
    ? [
        ...[...new Set([1, cores])].map((c) => ({
          engine: 'tfjs-wasm+native bf16',
          cores: c,
          env: { BOT_NATIVE: '1', BOT_NATIVE_THREADS: String(c) },
          args: ['--threads', '1', '--precision', 'bfloat16'],
        })),
        // bf16 on N data-parallel replicas (each replica's convolutions in bf16, as each reports at start-up).
        ...(cores > 1
          ? [{ engine: 'tfjs-wasm+native bf16 dp', cores, env: { BOT_NATIVE: '1', BOT_NATIVE_THREADS: '1' }, args: ['--threads', '1', '--precision', 'bfloat16', '--dp', String(cores)] }]
          : []),
      ]
    : []),
];

function jsStep(m, backend, variant = { engine: `tfjs-${backend}`, cores: 1, env: {}, args: ['--threads', '1'] }, extra = []) {
  const args = ['scripts/bench/train-step.mjs', '--model', m.model, '--size', String(m.size), '--batch', String(m.batch),
    '--classes', String(m.classes), '--backend', backend, '--seconds', String(seconds), ...variant.args, ...extra];
  const r = run('node', args, { extraEnv: { ...childEnv, ...variant.env } });
  const out = lastJson(r.stdout);
  if (!r.ok || !out) return { engine: variant.engine, threads: variant.cores, error: (r.error ?? r.stderr).slice(-600) };
  return { ...out, engine: variant.engine, threads: variant.cores, wasmThreads: out.threads };
}
/** ResNet-20's step in headless Chromium (scripts/bench/browser-step.mjs): `workers` Web Workers on wasm. */
function browserStep(m, workers) {
  const r = run('node', ['scripts/bench/browser-step.mjs', '--model', m.model, '--size', String(m.size), '--batch', String(m.batch),
    '--classes', String(m.classes), '--workers', String(workers), '--seconds', String(seconds)], { timeoutS: 900 });
  const out = lastJson(r.stdout);
  const engine = workers > 1 ? 'browser wasm dp' : 'browser wasm';
  if (!r.ok || !out || out.error) return { engine, threads: workers, error: (out?.error ?? r.error ?? r.stderr).slice(-600) };
  return { ...out, engine, threads: workers };
}
const browserOk = !skip.has('browser') && existsSync(env.CHROMIUM_PATH ?? '/usr/bin/chromium');
if (!skip.has('browser')) log(browserOk ? 'browser rows: headless Chromium' : 'browser rows: no /usr/bin/chromium (set CHROMIUM_PATH), skipped');
function torchStep(m, threads, autocast = false) {
  const r = run(torch.py, ['bench/torch_train.py', '--model', m.model, '--size', String(m.size), '--batch', String(m.batch),
    '--classes', String(m.classes), '--threads', String(threads), '--seconds', String(seconds), ...(autocast ? ['--autocast'] : [])]);
  return lastJson(r.stdout) ?? { engine: autocast ? 'pytorch autocast-bf16' : 'pytorch', threads, error: r.stderr.slice(-600) };
}

const training = {};
let profile;
for (const m of models) {
  log(`\n== ${m.label}`);
  const rows = [];
  const show = (r) => {
    rows.push(r);
    if (r.error) return log(`  ${r.engine.padEnd(20)} cores ${r.threads}  FAILED: ${r.error.split('\n').slice(-3).join(' | ')}`);
    log(`  ${r.engine.padEnd(20)} cores ${String(r.threads).padEnd(2)} ${r.imgPerSec.toFixed(2).padStart(8)} img/s  ${r.msPerStep.toFixed(0).padStart(7)} ms/step` +
      (r.cpuMsPerStep ? `  cpu ${r.cpuMsPerStep.toFixed(0).padStart(6)} ms/step` : '') +
      (r.maxRssMB ? `  rss ${r.maxRssMB.toFixed(0)} MB` : ''));
  };
  if (wantTensorflow || tfNodeOk) show(jsStep(m, 'tensorflow'));
  if (!wantTensorflow) {
    // Peers run next to the JS measurements they are compared with, so machine load hits both alike.
    for (const t of threadCounts) {
      for (const v of variants(m).filter((v) => v.cores === t)) show(jsStep(m, 'wasm', v));
      if (browserOk && m.key === 'resnet20') show(browserStep(m, t));
      if (torch) show(torchStep(m, t));
      if (torch && bf16Ok) show(torchStep(m, t, true));
    }
    if (!skip.has('cpu') && m.key === 'resnet20') {
      const cpuBatch = Number(env.BENCH_CPU_BATCH ?? 4);
      const r = jsStep({ ...m, batch: cpuBatch }, 'cpu', undefined, ['--min-steps', '0', '--max-steps', '0', '--seconds', '0']);
      if (!r.error) r.note = `one step at batch ${cpuBatch} (the cpu backend is too slow for batch ${m.batch})`;
      show(r);
    }
  }
  for (const r of rows) if (r.profile) { profile = { model: m.key, ...r.profile }; delete r.profile; }
  // Ratios: each tfjs row against PyTorch on the same number of cores.
  const ratios = {};
  const ok = rows.filter((x) => !x.error);
  for (const r of ok.filter((x) => x.engine.startsWith('tfjs'))) {
    const peer = ok.find((x) => x.engine === 'pytorch' && x.threads === r.threads);
    if (peer) ratios[`${r.engine} ${r.threads}c / pytorch ${peer.threads}t`] = r.imgPerSec / peer.imgPerSec;
  }
  // bfloat16, per core count: ours against PyTorch's autocast bf16 (and the native float32 row against it too).
  for (const autocast of ok.filter((x) => x.engine === 'pytorch autocast-bf16')) {
    const t = autocast.threads;
    for (const r of ok.filter((x) => x.threads === t && /^tfjs-wasm\+native( bf16)?( dp)?$/.test(x.engine))) {
      ratios[`${r.engine} ${t}c / pytorch autocast-bf16 ${t}t`] = r.imgPerSec / autocast.imgPerSec;
    }
    const nb = ok.find((x) => x.engine === 'tfjs-wasm+native bf16' && x.threads === t);
    const nf = ok.find((x) => x.engine === 'tfjs-wasm+native' && x.threads === t);
    if (nb && nf) ratios[`tfjs-wasm+native bf16 ${t}c / tfjs-wasm+native float32 ${t}c`] = nb.imgPerSec / nf.imgPerSec;
    const nbd = ok.find((x) => x.engine === 'tfjs-wasm+native bf16 dp' && x.threads === t);
    const nfd = ok.find((x) => x.engine === 'tfjs-wasm+native dp' && x.threads === t);
    if (nbd && nfd) ratios[`tfjs-wasm+native bf16 dp ${t}c / tfjs-wasm+native dp float32 ${t}c`] = nbd.imgPerSec / nfd.imgPerSec;
    const tA = ok.find((x) => x.engine === 'pytorch' && x.threads === t);
    if (tA) ratios[`pytorch autocast-bf16 ${t}t / pytorch float32 ${t}t`] = autocast.imgPerSec / tA.imgPerSec;
  }
  const w1 = ok.find((x) => x.engine === 'tfjs-wasm' && x.threads === 1);
  for (const r of ok.filter((x) => x.engine.startsWith('tfjs') && x.threads === cores && cores > 1)) {
    const base = ok.find((x) => x.engine === r.engine.replace(/ (threads|dp)$/, '') && x.threads === 1) ?? w1;
    if (base) ratios[`${r.engine} ${cores}c / ${base.engine} 1c`] = r.imgPerSec / base.imgPerSec;
    if (w1 && r.engine === 'tfjs-wasm threads') {
      ratios[`loss identical wasm ${cores} threads vs 1 (first two steps)`] = Number(w1.loss[0] === r.loss[0] && w1.loss[1] === r.loss[1]);
    }
  }
  // The browser rows against Node's wasm (no native kernels: what a browser gets) and PyTorch on the same cores.
  for (const b of ok.filter((x) => x.engine.startsWith('browser'))) {
    const node = ok.find((x) => x.engine === (b.threads > 1 ? 'tfjs-wasm dp' : 'tfjs-wasm') && x.threads === b.threads);
    const peer = ok.find((x) => x.engine === 'pytorch' && x.threads === b.threads);
    if (node) ratios[`${b.engine} ${b.threads}c / node ${node.engine} ${node.threads}c`] = b.imgPerSec / node.imgPerSec;
    if (peer) ratios[`${b.engine} ${b.threads}c / pytorch ${peer.threads}t`] = b.imgPerSec / peer.imgPerSec;
  }
  const n1 = ok.find((x) => x.engine === 'tfjs-wasm+native' && x.threads === 1);
  if (n1 && w1) ratios['tfjs-wasm+native 1c / tfjs-wasm 1c'] = n1.imgPerSec / w1.imgPerSec;
  const t1 = ok.find((x) => x.engine === 'pytorch' && x.threads === 1);
  const tN = ok.find((x) => x.engine === 'pytorch' && x.threads === cores && cores > 1);
  if (t1 && tN) ratios[`pytorch ${cores}t / pytorch 1t`] = tN.imgPerSec / t1.imgPerSec;
  const best = (pred) => ok.filter(pred).reduce((b, x) => (b && b.imgPerSec >= x.imgPerSec ? b : x), undefined);
  const bestWasm = best((x) => x.engine.startsWith('tfjs-wasm') && !x.engine.includes('native') && x.threads === cores);
  const bestAny = best((x) => x.engine.startsWith('tfjs') && x.threads === cores);
  if (tN && bestWasm) ratios[`best browser-capable (${bestWasm.engine}) ${cores}c / pytorch ${cores}t`] = bestWasm.imgPerSec / tN.imgPerSec;
  if (tN && bestAny) ratios[`best tfjs (${bestAny.engine}) ${cores}c / pytorch ${cores}t`] = bestAny.imgPerSec / tN.imgPerSec;
  for (const [k, v] of Object.entries(ratios)) log(`  ratio ${k.padEnd(70)} ${v.toPrecision(3)}`);
  training[m.key] = { ...m, rows, ratios };
}

if (profile) {
  log(`\n== per-kernel profile, ${profile.model} training step on wasm, 1 thread (step ${profile.stepWallMs.toFixed(0)} ms, kernels ${profile.kernelMs.toFixed(0)} ms)`);
  for (const k of profile.byKernel.slice(0, 12)) {
    log(`  ${k.kernel.padEnd(26)} ${k.ms.toFixed(1).padStart(8)} ms ${(100 * k.share).toFixed(1).padStart(5)}%  ${String(k.calls).padStart(4)} calls`);
  }
}

// ---------- wasm threads: conv-heavy ops, 1 vs N threads, alternated, best of rounds ----------
let threadsBench;
if (!wantTensorflow && cores > 1 && !skip.has('threads')) {
  log(`\n== wasm conv ops, 1 vs ${cores} threads (alternating processes, best of ${env.BENCH_THREAD_ROUNDS ?? 3} rounds)`);
  const bestOf = { 1: {}, [cores]: {} };
  const checksums = new Set();
  for (let round = 0; round < Number(env.BENCH_THREAD_ROUNDS ?? 3); round++) {
    for (const t of [1, cores]) {
      const out = lastJson(run('node', ['scripts/bench/conv-threads.mjs', '--threads', String(t)], { extraEnv: childEnv }).stdout);
      if (!out) continue;
      checksums.add(out.checksum);
      for (const [op, ms] of Object.entries(out.ops)) bestOf[t][op] = Math.min(bestOf[t][op] ?? Infinity, ms);
    }
  }
  const ops = Object.keys(bestOf[1]).map((op) => ({ op, ms1: bestOf[1][op], msN: bestOf[cores][op], speedup: bestOf[1][op] / bestOf[cores][op] }));
  for (const o of ops) log(`  ${o.op.padEnd(64)} ${o.ms1.toFixed(1).padStart(7)} ms -> ${o.msN.toFixed(1).padStart(7)} ms  x${o.speedup.toFixed(2)}`);
  log(`  results identical across thread counts: ${checksums.size === 1}`);
  threadsBench = { threads: cores, ops, identicalResults: checksums.size === 1 };
}

// ---------- sibling benches ----------
let pipeline;
const pipelineScript = join(root, 'packages/data/bench/pipeline.mjs');
if (!skip.has('pipeline') && existsSync(pipelineScript)) {
  log('\n== data pipeline (packages/data/bench/pipeline.mjs)');
  const r = run('node', [pipelineScript, '--images', env.BENCH_PIPELINE_IMAGES ?? '200', '--repeats', '2'], { timeoutS: 900 });
  const file = join(root, 'bench-results/pipeline.json');
  if (r.ok && existsSync(file)) {
    pipeline = JSON.parse(readFileSync(file, 'utf8'));
    const tv = pipeline.torchvision?.stages ?? {};
    for (const [stage, v] of Object.entries(tv)) log(`  torchvision ${stage.padEnd(58)} ${v.imgPerCpuSec.toFixed(0)} img/s per core`);
    for (const [name, ratio] of Object.entries(pipeline.ratios ?? {})) log(`  ${name.padEnd(120)} ${ratio.toFixed(2)}x`);
    const h = pipeline.headline;
    if (h?.torchvision) {
      log(`  HEADLINE, paper train pipeline, decode included, images per CPU-second: torchvision ${h.torchvision.imgPerCpuSec.toFixed(0)}`);
      for (const k of ['default', 'bilinear']) {
        if (h[k]) log(`    ours (${k === 'bilinear' ? "resample: 'bilinear'" : 'default lanczos3'}) ${h[k].imgPerCpuSec.toFixed(0)} = ${h[k].perCoreRatio.toFixed(2)}x per core, ${h[k].wallRatio.toFixed(2)}x wall`);
      }
    }
  } else {
    pipeline = { error: (r.error ?? r.stderr ?? r.stdout).slice(-800) };
    log(`  failed: ${pipeline.error.split('\n').slice(-3).join(' | ')}`);
  }
}
let kernels;
const kernelScript = join(root, 'packages/backend/bench/kernels.mjs');
if (!skip.has('kernels') && existsSync(kernelScript)) {
  log('\n== backend kernel bench (packages/backend/bench/kernels.mjs, BENCH_QUICK=1 BENCH_CPU_STEP=0)');
  const cwd = join(root, 'packages/backend');
  const r = run('node', ['bench/kernels.mjs'], { cwd, timeoutS: 900, extraEnv: { BENCH_QUICK: '1', BENCH_CPU_STEP: '0', ...childEnv, BOT_NATIVE: '0' } });
  const file = join(root, 'bench-results/kernels.json'); // kernels.mjs writes to the root's bench-results/
  if (r.ok && existsSync(file)) {
    kernels = JSON.parse(readFileSync(file, 'utf8'));
    log(r.stdout.trim().split('\n').slice(-70).map((l) => `  ${l}`).join('\n'));
  } else {
    kernels = { error: (r.error ?? r.stderr ?? r.stdout).slice(-800) };
    log(`  failed: ${kernels.error.split('\n').slice(-3).join(' | ')}`);
  }
}

// ---------- write ----------
const usage = process.resourceUsage();
const childRss = Object.values(training).flatMap((t) => t.rows).map((r) => r.maxRssMB ?? 0);
const result = {
  date: new Date().toISOString(),
  machine: { cores, cpu: os.cpus()[0]?.model, memGB: os.totalmem() / 2 ** 30, loadAverageAtEnd: os.loadavg(), node: process.version },
  note: 'img/s = batch / median step time (forward + backward + Nesterov momentum update). Ratios compare runs made in this process, one after the other, on the same thread count; the machine may be shared, see loadAverage.',
  pytorch: torch ?? null,
  backendFlags: Object.fromEntries(flags.map((f) => [f.name, `${f.value} (${f.source})`])),
  training,
  profile: profile ?? null,
  wasmThreads: threadsBench ?? null,
  peakRssMB: { benchProcess: usage.maxRSS / 1024, largestTrainingProcess: Math.max(0, ...childRss) },
  pipeline: pipeline ?? null,
  kernels: kernels ?? null,
  seconds: (Date.now() - started) / 1000,
};
mkdirSync(join(root, 'bench-results'), { recursive: true });
writeFileSync(join(root, 'bench-results/bench.json'), JSON.stringify(result, null, 2) + '\n');
log(`\npeak RSS: largest training process ${result.peakRssMB.largestTrainingProcess.toFixed(0)} MB; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
log(`wrote bench-results/bench.json in ${result.seconds.toFixed(0)} s`);
