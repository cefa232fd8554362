#!/usr/bin/env node
// Per-layer native vs wasm: ms per call (median) and GFLOP/s for the conv shapes of CIFAR
// ResNet-20 (batch 64, 32x32) and ResNet-50 (batch 32, 64x64) training steps (the profile's
// shapes: node scripts/bench/train-step.mjs --profile), plus a 1024^3 GEMM.
//   node bench/kernels.mjs [--model resnet20|resnet50|all] [--threads 1] [--reps 5] [--json out.json]
// Build first: npx turbo run build --filter=@bag-of-tricks/native-kernels
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '@bag-of-tricks/backend';
import { writeFileSync } from 'node:fs';
import {
  nativeInfo,
  nativeMatMul,
  nativeKernelStats,
  registerNativeKernels,
  resetNativeKernelStats,
  setNativeThreads,
  unregisterNativeKernels,
} from '../dist/index.js';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : typeof fallback === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
};
const which = arg('model', 'all');
const threads = arg('threads', 1);
const reps = arg('reps', 5);
const only = arg('only', '');
const jsonOut = arg('json', '');

// [name, x shape, filter shape, stride, pad] (pad 'same' unless given)
const resnet20 = [
  ['r20 stem 3->16 32x32', [64, 32, 32, 3], [3, 3, 3, 16], 1, 'same'],
  ['r20 s1 16->16 32x32', [64, 32, 32, 16], [3, 3, 16, 16], 1, 'same'],
  ['r20 s2 16->32 /2 (padded)', [64, 34, 34, 16], [3, 3, 16, 32], 2, 'valid'],
  ['r20 s2 32->32 16x16', [64, 16, 16, 32], [3, 3, 32, 32], 1, 'same'],
  ['r20 s3 32->64 /2 (padded)', [64, 18, 18, 32], [3, 3, 32, 64], 2, 'valid'],
  ['r20 s3 64->64 8x8', [64, 8, 8, 64], [3, 3, 64, 64], 1, 'same'],
];
const resnet50 = [
  ['r50 stem 7x7 3->64 /2', [32, 64, 64, 3], [7, 7, 3, 64], 2, 'same'],
  ['r50 c2 1x1 64->64 16x16', [32, 16, 16, 64], [1, 1, 64, 64], 1, 'valid'],
  ['r50 c2 3x3 64->64 16x16', [32, 16, 16, 64], [3, 3, 64, 64], 1, 'same'],
  ['r50 c2 1x1 64->256 16x16', [32, 16, 16, 64], [1, 1, 64, 256], 1, 'valid'],
  ['r50 c2 1x1 256->64 16x16', [32, 16, 16, 256], [1, 1, 256, 64], 1, 'valid'],
  ['r50 c3 3x3 128->128 /2', [32, 16, 16, 128], [3, 3, 128, 128], 2, 'same'],
  ['r50 c3 1x1 128->512 8x8', [32, 8, 8, 128], [1, 1, 128, 512], 1, 'valid'],
  ['r50 c3 1x1 512->128 8x8', [32, 8, 8, 512], [1, 1, 512, 128], 1, 'valid'],
  ['r50 c4 3x3 256->256 4x4', [32, 4, 4, 256], [3, 3, 256, 256], 1, 'same'],
  ['r50 c4 1x1 1024->256 4x4', [32, 4, 4, 1024], [1, 1, 1024, 256], 1, 'valid'],
  ['r50 c5 3x3 512->512 2x2', [32, 2, 2, 512], [3, 3, 512, 512], 1, 'same'],
  ['r50 c5 1x1 512->2048 2x2', [32, 2, 2, 512], [1, 1, 512, 2048], 1, 'valid'],
];
const layers = [...(which !== 'resnet50' ? resnet20 : []), ...(which !== 'resnet20' ? resnet50 : [])].filter(([n]) => n.includes(only));

registerWasmTrainingKernels();
await tf.setBackend('wasm');
setNativeThreads(threads);

function time(fn) {
  fn(); // warm
  const ts = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const out = fn();
    out.dataSync(); // wasm kernels are synchronous; this only keeps the API honest
    ts.push(performance.now() - t0);
    out.dispose();
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

const rows = [];
for (const [name, xs, fs, stride, pad] of layers) {
  const x = tf.randomNormal(xs, 0, 1, 'float32', 1);
  const f = tf.randomNormal(fs, 0, 0.1, 'float32', 2);
  const b = tf.randomNormal([fs[3]], 0, 0.1, 'float32', 3);
  const info = tf.backend_util.computeConv2DInfo(xs, fs, stride, 1, pad);
  const dy = tf.randomNormal(info.outShape, 0, 1, 'float32', 4);
  const attrs = { strides: stride, pad, dataFormat: 'NHWC', dilations: 1 };
  const flops = 2 * info.batchSize * info.outHeight * info.outWidth * info.outChannels * fs[0] * fs[1] * fs[2];
  const ops = {
    FusedConv2D: () => tf.fused.conv2d({ x, filter: f, strides: stride, pad, bias: b, activation: 'relu' }),
    Conv2DBackpropInput: () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { ...attrs, inputShape: xs }),
    Conv2DBackpropFilter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: fs }),
  };
  for (const [op, fn] of Object.entries(ops)) {
    unregisterNativeKernels();
    const wasmMs = time(fn);
    registerNativeKernels();
    resetNativeKernelStats();
    const nativeMs = time(fn);
    const s = nativeKernelStats()[op];
    if (!s || s.fallback > 0 || s.native === 0) throw new Error(`${op} did not run natively: ${s?.lastFallbackReason}`);
    const row = { layer: name, op, wasmMs: +wasmMs.toFixed(2), nativeMs: +nativeMs.toFixed(2), speedup: +(wasmMs / nativeMs).toFixed(2), wasmGflops: +(flops / wasmMs / 1e6).toFixed(1), nativeGflops: +(flops / nativeMs / 1e6).toFixed(1) };
    rows.push(row);
    console.log(`${name.padEnd(28)} ${op.padEnd(21)} wasm ${row.wasmMs.toFixed(2).padStart(8)} ms ${String(row.wasmGflops).padStart(6)} GF/s | native ${row.nativeMs.toFixed(2).padStart(7)} ms ${String(row.nativeGflops).padStart(6)} GF/s | x${row.speedup}`);
  }
  tf.dispose([x, f, b, dy]);
}

// 1024^3 GEMM, one call after a warm-up, best of reps.
let gemm;
if (!only) {
  const n = 1024;
  const a = Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  nativeMatMul(a, a, n, n, n);
  let best = Infinity;
  for (let i = 0; i < Math.max(reps, 5); i++) {
    const t0 = performance.now();
    nativeMatMul(a, a, n, n, n);
    best = Math.min(best, performance.now() - t0);
  }
  gemm = { n, bestMs: +best.toFixed(2), gflops: +((2 * n ** 3) / best / 1e6).toFixed(1) };
  console.log(`GEMM ${n}^3 (incl. copying operands in/out): ${gemm.bestMs} ms, ${gemm.gflops} GFLOP/s on ${threads} thread(s)`);
}
const usage = process.resourceUsage();
const summary = { native: nativeInfo(), threads, reps, rows, gemm, cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6 };
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(summary, null, 2));
