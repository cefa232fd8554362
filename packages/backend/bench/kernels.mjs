// Per-kernel timings (wasm stock / wasm ours / cpu) and CIFAR ResNet-20 training img/s.
// Run from packages/backend after a build: `npx tsup && node bench/kernels.mjs`.
// BENCH_CPU_STEP=0 skips the (minutes-long) cpu ResNet-20 step; BENCH_QUICK=1 uses fewer shapes.
// BENCH_SIMD_ONLY=1 runs only the "our wasm SIMD module vs XNNPACK" section (a minute or two).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers'; // also registers tfjs-core's gradients
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import {
  batchNormTraining,
  initBackend,
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
} from '../dist/index.js';

const env = process.env;
const quick = env.BENCH_QUICK === '1';
const cpuStep = env.BENCH_CPU_STEP !== '0';
const log = (...a) => console.log(...a);

await initBackend('wasm', { log });

// ---------- timing ----------
function timeMs(fn, { minMs = 400, maxReps = 15, warmup = true } = {}) {
  if (warmup) tf.dispose(fn());
  const times = [];
  let total = 0;
  while (times.length < maxReps && (total < minMs || times.length < 3)) {
    const t0 = performance.now();
    tf.dispose(fn());
    const dt = performance.now() - t0;
    times.push(dt);
    total += dt;
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
// cpu is slow: a single, un-warmed run.
const cpuOpts = { warmup: false, maxReps: 1, minMs: 0 };

const randn = (shape, seed) => tf.randomNormal(shape, 0, 1, 'float32', seed);

// ---------- kernels ----------
const convShapes = [
  { name: 'resnet20 3x3 16->16 32x32 s1', x: [64, 32, 32, 16], f: [3, 3, 16, 16], s: 1 },
  { name: 'resnet20 3x3 16->32 32x32 s2', x: [64, 32, 32, 16], f: [3, 3, 16, 32], s: 2 },
  { name: 'resnet20 3x3 32->32 16x16 s1', x: [64, 16, 16, 32], f: [3, 3, 32, 32], s: 1 },
  { name: 'resnet20 3x3 64->64 8x8 s1', x: [64, 8, 8, 64], f: [3, 3, 64, 64], s: 1 },
  { name: 'shortcut 1x1 32->64 16x16 s2', x: [64, 16, 16, 32], f: [1, 1, 32, 64], s: 2 },
  { name: 'bottleneck 1x1 256->64 14x14 s1', x: [16, 14, 14, 256], f: [1, 1, 256, 64], s: 1 },
  ...(quick ? [] : [{ name: 'resnet50 3x3 64->64 56x56 s1', x: [8, 56, 56, 64], f: [3, 3, 64, 64], s: 1 }]),
];

const rows = [];
function record(kernel, shape, timings) {
  rows.push({ kernel, shape, ...timings });
  const f = (v) => (v === undefined ? '      -' : v.toFixed(1).padStart(7));
  log(`${kernel.padEnd(36)} ${shape.padEnd(34)} ${f(timings.wasmStock)} ${f(timings.wasmOurs)} ${f(timings.cpu)}`);
}

async function onBackend(name, fn) {
  await tf.setBackend(name);
  return fn();
}

// ---------- our wasm SIMD module (csrc/conv.c) against the XNNPACK-based kernels ----------
// Per layer: the same kernel with the module off (BOT_WASM_SIMD=0: XNNPACK forward conv, the
// transpose + XNNPACK conv filter gradient, the XNNPACK input gradient) and on (SIMD filter gradient,
// Winograd forward / input gradient where WINOGRAD_DISPATCH takes the shape), A/B alternated
// `rounds` times; best median wall ms and best median process CPU ms per call, and GFLOP/s of the
// direct conv's 2*N*OH*OW*KH*KW*C*O flops. The forward conv of the same layer is the yardstick.
function timeCpu(fn, reps) {
  tf.dispose(fn());
  const wall = [];
  const cpu = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    tf.dispose(fn());
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const med = (a) => a.sort((p, q) => p - q)[Math.floor(a.length / 2)];
  return { wall: med(wall), cpu: med(cpu) };
}
const simdShapes = [
  { name: 'resnet20 3x3 16->16 32x32', x: [64, 32, 32, 16], f: [3, 3, 16, 16], s: 1 },
  { name: 'resnet20 3x3 16->32 32x32 s2', x: [64, 32, 32, 16], f: [3, 3, 16, 32], s: 2 },
  { name: 'resnet20 3x3 32->32 16x16', x: [64, 16, 16, 32], f: [3, 3, 32, 32], s: 1 },
  { name: 'resnet20 3x3 64->64 8x8', x: [64, 8, 8, 64], f: [3, 3, 64, 64], s: 1 },
  { name: 'resnet20 1x1 16->32 s2 shortcut', x: [64, 32, 32, 16], f: [1, 1, 16, 32], s: 2 },
  { name: 'resnet50@64 3x3 64 16x16', x: [32, 16, 16, 64], f: [3, 3, 64, 64], s: 1 },
  { name: 'resnet50@64 3x3 128 8x8', x: [32, 8, 8, 128], f: [3, 3, 128, 128], s: 1 },
  { name: 'resnet50@64 3x3 256 4x4', x: [32, 4, 4, 256], f: [3, 3, 256, 256], s: 1 },
  { name: 'resnet50@64 3x3 512 2x2', x: [32, 2, 2, 512], f: [3, 3, 512, 512], s: 1 },
  { name: 'resnet50@64 1x1 256->64 16x16', x: [32, 16, 16, 256], f: [1, 1, 256, 64], s: 1 },
  { name: 'resnet50@64 1x1 64->256 16x16', x: [32, 16, 16, 64], f: [1, 1, 64, 256], s: 1 },
  { name: 'resnet50@64 7x7 stem 3->64 s2', x: [32, 64, 64, 3], f: [7, 7, 3, 64], s: 2 },
];
const simdRows = [];
{
  await tf.setBackend('wasm');
  const rounds = quick ? 1 : 3;
  const setSimd = (on) => {
    if (on) delete process.env.BOT_WASM_SIMD;
    else process.env.BOT_WASM_SIMD = '0';
  };
  log(`\nour wasm SIMD module vs XNNPACK kernels (median of ${rounds} x 5 calls, A/B alternated; wall ms / process CPU ms per call, GFLOP/s on CPU time)`);
  log(`${'layer'.padEnd(34)} ${'kernel'.padEnd(22)} ${'old wall/cpu'.padStart(15)} ${'new wall/cpu'.padStart(15)} ${'old GF/s'.padStart(8)} ${'new GF/s'.padStart(8)}  speed-up`);
  for (const c of simdShapes) {
    const info = tf.backend_util.computeConv2DInfo(c.x, c.f, c.s, 1, 'same');
    const flop = 2 * info.batchSize * info.outHeight * info.outWidth * c.f[0] * c.f[1] * c.f[2] * c.f[3];
    const x = randn(c.x, 1);
    const f = randn(c.f, 2);
    const dy = randn(info.outShape, 3);
    const kernels = {
      'forward (FusedConv2D)': () => tf.fused.conv2d({ x, filter: f, strides: c.s, pad: 'same', activation: 'relu' }),
      Conv2DBackpropFilter: () =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: c.s, pad: 'same', dataFormat: 'NHWC', filterShape: c.f }),
      Conv2DBackpropInput: () =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { strides: c.s, pad: 'same', dataFormat: 'NHWC', inputShape: c.x }),
    };
    for (const [kernel, fn] of Object.entries(kernels)) {
      const best = { old: { wall: Infinity, cpu: Infinity }, new: { wall: Infinity, cpu: Infinity } };
      for (let r = 0; r < rounds; r++) {
        for (const which of ['old', 'new']) {
          setSimd(which === 'new');
          const t = timeCpu(fn, 5);
          best[which].wall = Math.min(best[which].wall, t.wall);
          best[which].cpu = Math.min(best[which].cpu, t.cpu);
        }
      }
      setSimd(true);
      const gf = (ms) => flop / ms / 1e6;
      const row = { layer: c.name, x: c.x, f: c.f, s: c.s, kernel, gflop: flop / 1e9, old: best.old, new: best.new };
      simdRows.push(row);
      const fmt = (t) => `${t.wall.toFixed(2)}/${t.cpu.toFixed(1)}`.padStart(15);
      log(
        `${c.name.padEnd(34)} ${kernel.padEnd(22)} ${fmt(best.old)} ${fmt(best.new)} ${gf(best.old.cpu).toFixed(1).padStart(8)} ${gf(best.new.cpu).toFixed(1).padStart(8)}  x${(best.old.cpu / best.new.cpu).toFixed(2)}`,
      );
    }
    tf.dispose([x, f, dy]);
  }
  if (env.BENCH_SIMD_ONLY === '1') {
    const dir = fileURLToPath(new URL('../../../bench-results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}kernels-simd.json`, JSON.stringify({ date: new Date().toISOString(), node: process.version, simd: simdRows }, null, 2));
    log(`wrote ${dir}kernels-simd.json`);
    process.exit(0);
  }
}

log(`\nper-call median ms (cpu: one run)      shape                              wasm-stock  wasm-ours    cpu`);
for (const c of convShapes) {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.f, c.s, 1, 'same');
  const filterAttrs = { strides: c.s, pad: 'same', dataFormat: 'NHWC', filterShape: c.f };
  const inputAttrs = { strides: c.s, pad: 'same', dataFormat: 'NHWC', inputShape: c.x };
  const measure = (backend, opts) =>
    onBackend(backend, () => {
      const x = randn(c.x, 1);
      const f = randn(c.f, 2);
      const dy = randn(info.outShape, 3);
      const fwd = timeMs(() => tf.conv2d(x, f, c.s, 'same'), opts);
      const bf = timeMs(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, filterAttrs), opts);
      const bi = timeMs(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, inputAttrs), opts);
      tf.dispose([x, f, dy]);
      return { fwd, bf, bi };
    });
  const ours = await measure('wasm');
  unregisterWasmTrainingKernels();
  const stockBi = await onBackend('wasm', () => {
    const f = randn(c.f, 2);
    const dy = randn(info.outShape, 3);
    const t = timeMs(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, inputAttrs));
    tf.dispose([f, dy]);
    return t;
  });
  registerWasmTrainingKernels();
  const cpu = await measure('cpu', cpuOpts);
  const shape = `x ${c.x.join('x')} f ${c.f.join('x')} s${c.s}`;
  log(`-- ${c.name}`);
  record('Conv2D (forward)', shape, { wasmStock: ours.fwd, cpu: cpu.fwd });
  record('Conv2DBackpropFilter', shape, { wasmOurs: ours.bf, cpu: cpu.bf });
  record('Conv2DBackpropInput', shape, { wasmStock: stockBi, wasmOurs: ours.bi, cpu: cpu.bi });
}

{
  const x = [64, 16, 16, 32];
  const f = [3, 3, 32, 1];
  const attrs = { strides: 1, pad: 'same', dilations: 1 };
  const measure = (backend, opts) =>
    onBackend(backend, () => {
      const xt = randn(x, 4);
      const ft = randn(f, 5);
      const dy = randn(x, 6);
      const bf = timeMs(() => tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: xt, dy }, { ...attrs, filterShape: f }), opts);
      const bi = timeMs(() => tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: ft }, { ...attrs, inputShape: x }), opts);
      tf.dispose([xt, ft, dy]);
      return { bf, bi };
    });
  const ours = await measure('wasm');
  const cpu = await measure('cpu', cpuOpts);
  const shape = `x ${x.join('x')} f ${f.join('x')} s1`;
  log('-- depthwise');
  record('DepthwiseConv2dNativeBackpropFilter', shape, { wasmOurs: ours.bf, cpu: cpu.bf });
  record('DepthwiseConv2dNativeBackpropInput', shape, { wasmOurs: ours.bi, cpu: cpu.bi });
}

{
  const shape = [4096, 64];
  const measure = (backend, opts) =>
    onBackend(backend, () => {
      const x = randn(shape, 7);
      const ids = tf.tensor1d(Array.from({ length: shape[0] }, (_, i) => (i * 7) % 1000), 'int32');
      const t = timeMs(() => tf.unsortedSegmentSum(x, ids, 1000), opts);
      tf.dispose([x, ids]);
      return t;
    });
  log('-- gather gradient');
  record('UnsortedSegmentSum', `x ${shape.join('x')} -> 1000 segments`, { wasmOurs: await measure('wasm'), cpu: await measure('cpu', { maxReps: 3 }) });
}

{
  const shape = [64, 32, 32, 16];
  const measure = (backend, bn, opts) =>
    onBackend(backend, () => {
      const x = randn(shape, 8);
      const gamma = tf.variable(tf.ones([16]));
      const beta = tf.variable(tf.zeros([16]));
      const up = randn(shape, 9);
      const t = timeMs(() => tf.tidy(() => {
        const { grads, value } = tf.variableGrads(() => tf.sum(tf.mul(bn(x, gamma, beta), up)), [gamma, beta]);
        const dx = tf.grad((a) => tf.sum(tf.mul(bn(a, gamma, beta), up)))(x);
        return [value, dx, ...Object.values(grads)];
      }), opts);
      tf.dispose([x, gamma, beta, up]);
      return t;
    });
  const stockBn = (x, g, b) => {
    const m = tf.moments(x, [0, 1, 2]);
    return tf.batchNorm(x, m.mean, m.variance, b, g, 1e-5);
  };
  const oursBn = (x, g, b) => batchNormTraining(x, g, b, 1e-5).y;
  log('-- batch norm, forward + backward (twice: params, then x)');
  record('BN moments+batchNorm (FAST_GRADIENTS)', `x ${shape.join('x')}`, {
    wasmStock: await measure('wasm', stockBn),
    cpu: await measure('cpu', stockBn, { maxReps: 2, minMs: 0 }),
  });
  record('BN batchNormTraining (customGrad)', `x ${shape.join('x')}`, {
    wasmOurs: await measure('wasm', oursBn),
    cpu: await measure('cpu', oursBn, { maxReps: 2, minMs: 0 }),
  });
}

// ---------- CIFAR ResNet-20 training step ----------
/** BN layer on batchNormTraining, as the resnet-variants package will have. */
class FastBatchNorm extends tfl.layers.Layer {
  static className = 'BenchFastBatchNorm';
  build(inputShape) {
    const c = inputShape[inputShape.length - 1];
    this.gamma = this.addWeight('gamma', [c], 'float32', tfl.initializers.ones());
    this.beta = this.addWeight('beta', [c], 'float32', tfl.initializers.zeros());
    this.movingMean = this.addWeight('moving_mean', [c], 'float32', tfl.initializers.zeros(), undefined, false);
    this.movingVariance = this.addWeight('moving_variance', [c], 'float32', tfl.initializers.ones(), undefined, false);
    this.built = true;
  }
  call(inputs, kwargs) {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!kwargs.training) {
      return tf.batchNorm(x, this.movingMean.read(), this.movingVariance.read(), this.beta.read(), this.gamma.read(), 1e-5);
    }
    const { y, mean, variance } = batchNormTraining(x, this.gamma.read(), this.beta.read(), 1e-5);
    tf.tidy(() => {
      this.movingMean.write(tf.add(tf.mul(this.movingMean.read(), 0.9), tf.mul(mean, 0.1)));
      this.movingVariance.write(tf.add(tf.mul(this.movingVariance.read(), 0.9), tf.mul(variance, 0.1)));
    });
    tf.dispose([mean, variance]);
    return y;
  }
}

function resnet20(fastBn) {
  const bn = () => (fastBn ? new FastBatchNorm({}) : tfl.layers.batchNormalization({ epsilon: 1e-5, momentum: 0.9 }));
  const conv = (filters, kernelSize, strides) =>
    tfl.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: 'glorotUniform' });
  const input = tfl.input({ shape: [32, 32, 3] });
  let h = tfl.layers.activation({ activation: 'relu' }).apply(bn().apply(conv(16, 3, 1).apply(input)));
  [16, 32, 64].forEach((width, stage) => {
    for (let block = 0; block < 3; block++) {
      const strides = stage > 0 && block === 0 ? 2 : 1;
      let r = tfl.layers.activation({ activation: 'relu' }).apply(bn().apply(conv(width, 3, strides).apply(h)));
      r = bn().apply(conv(width, 3, 1).apply(r));
      const shortcut = strides === 1 ? h : bn().apply(conv(width, 1, strides).apply(h));
      h = tfl.layers.activation({ activation: 'relu' }).apply(tfl.layers.add().apply([r, shortcut]));
    }
  });
  h = tfl.layers.globalAveragePooling2d({}).apply(h);
  const out = tfl.layers.dense({ units: 10, activation: 'softmax' }).apply(h);
  const model = tfl.model({ inputs: input, outputs: out });
  model.compile({ optimizer: tf.train.momentum(0.1, 0.9, true), loss: 'categoricalCrossentropy' });
  return model;
}

async function trainStep(backend, fastBn, steps) {
  await tf.setBackend(backend);
  const model = resnet20(fastBn);
  const batch = 64;
  const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', 10);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32'), 10);
  const times = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await model.trainOnBatch(x, y);
    times.push(performance.now() - t0);
  }
  const params = model.countParams();
  tf.dispose([x, y]);
  model.dispose();
  // The first step builds and warms up; report the median of the rest when there are any.
  const steady = times.length > 1 ? times.slice(1).sort((a, b) => a - b) : times;
  const ms = steady[Math.floor(steady.length / 2)];
  return { backend, batchNorm: fastBn ? 'batchNormTraining' : 'tf.layers.batchNormalization', steps, msPerStep: ms, imgPerSec: (batch * 1000) / ms, params };
}

log('\nCIFAR ResNet-20 training step, batch 64 (model.trainOnBatch, NAG momentum)');
const resnet = [];
const report = (r) => {
  resnet.push(r);
  log(`${r.backend.padEnd(5)} ${r.batchNorm.padEnd(30)} ${r.msPerStep.toFixed(0).padStart(8)} ms/step ${r.imgPerSec.toFixed(1).padStart(8)} img/s  (${r.params} params, ${r.steps} steps)`);
};
report(await trainStep('wasm', true, quick ? 3 : 6));
report(await trainStep('wasm', false, quick ? 3 : 6));
unregisterWasmTrainingKernels();
try {
  await trainStep('wasm', true, 1);
  log('wasm without our kernels: trained?!');
} catch (err) {
  log(`wasm without our kernels: ${String(err.message).split('\n')[0]}`);
}
registerWasmTrainingKernels();
if (cpuStep) report(await trainStep('cpu', true, 1));

const threads = (await import('@tensorflow/tfjs-backend-wasm')).getThreadsCount?.() ?? 1;
const out = {
  date: new Date().toISOString(),
  node: process.version,
  cores: availableParallelism(),
  wasmThreads: threads,
  tfjs: tf.version_core,
  kernelsMs: rows,
  simdVsXnnpack: simdRows,
  resnet20: resnet,
};
// The repository root's bench-results/ (git-ignored), wherever the script is run from.
const dir = fileURLToPath(new URL('../../../bench-results/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}kernels.json`, JSON.stringify(out, null, 2));
log(`\nwasm threads: ${threads}; wrote ${dir}kernels.json`);
