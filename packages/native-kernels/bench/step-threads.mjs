#!/usr/bin/env node
// One model's training step (scripts/bench/train-step.mjs's step: forward, softmax cross-entropy, backward, the
// trainer's momentum update) at 1 and N native threads, alternated step by step in one process, so a shared
// machine's load drifts over both alike. Prints one JSON line: per thread count, the median ms per step and the
// median ms per step spent in the conv kernels (Conv2D, FusedConv2D, Conv2DBackpropInput, Conv2DBackpropFilter:
// the native wrappers, timed around each call), and the process CPU time per step.
//   node packages/native-kernels/bench/step-threads.mjs [--model resnet20] [--size 32] [--batch 64]
//        [--precision bfloat16] [--threads 1,2] [--steps 40] [--detail]
// --detail: also each conv kernel and input shape's median ms per step at each thread count.
// --md: also a markdown row per thread count (after the JSON line).
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { initBackend } from '@bag-of-tricks/backend';
import { createResNet } from '@bag-of-tricks/resnet-variants';
import { applyGradientsWithDecay } from '@bag-of-tricks/trainer';
import { setNativeThreads } from '../dist/index.js';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
};
const model = arg('model', 'resnet20');
const size = Number(arg('size', 32));
const batch = Number(arg('batch', 64));
const classes = Number(arg('classes', 10));
const precision = arg('precision', 'bfloat16');
const counts = arg('threads', '1,2').split(',').map(Number);
const steps = Number(arg('steps', 40));

const log = [];
await initBackend('wasm', { log: (m) => log.push(m), wasmThreads: 1, ...(precision !== 'float32' ? { precision } : {}) });
const nativeLine = log.find((m) => /native kernels: on/.test(m));
if (!nativeLine) throw new Error(`native kernels are not on: ${log.join(' | ')}`);

// The wasm backend's conv kernels (the native wrappers), timed around each call.
let convMs = 0;
const detail = process.argv.includes('--detail');
let perCall = new Map(); // `${kernel} ${shapes}` -> ms this step
for (const name of ['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']) {
  const k = tf.getKernel(name, 'wasm');
  const f = k.kernelFunc;
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({
    ...k,
    kernelFunc: (a) => {
      const t0 = performance.now();
      try {
        return f(a);
      } finally {
        const ms = performance.now() - t0;
        convMs += ms;
        if (detail) {
          const key = `${name} ${JSON.stringify(Object.values(a.inputs).map((t) => t?.shape ?? null))}`;
          perCall.set(key, (perCall.get(key) ?? 0) + ms);
        }
      }
    },
  });
}

const net = createResNet(model, { inputShape: [size, size, 3], numClasses: classes, seed: 7 });
const optimizer = tf.train.momentum(0.1, 0.9, true);
const x = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 11);
const labels = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 7) % classes), 'int32'), classes);
const trainable = net.trainableWeights.map((w) => w.read());
const step = () =>
  tf.tidy(() => {
    const { value, grads } = optimizer.computeGradients(() => tf.losses.softmaxCrossEntropy(labels, net.apply(x, { training: true })), trainable);
    applyGradientsWithDecay(optimizer, grads, [], 0);
    return value.dataSync()[0];
  });

for (const t of counts) {
  setNativeThreads(t);
  step(); // warm: kernels built, buffers grown, the pool's threads started
}
const runs = Object.fromEntries(counts.map((t) => [t, { ms: [], convMs: [], cpuMs: 0, calls: new Map() }]));
const load0 = loadavg()[0];
for (let s = 0; s < steps; s++) {
  for (const t of s % 2 ? [...counts].reverse() : counts) {
    setNativeThreads(t);
    convMs = 0;
    perCall = new Map();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    step();
    runs[t].ms.push(performance.now() - t0);
    const cpu = process.cpuUsage(cpu0);
    runs[t].cpuMs += (cpu.user + cpu.system) / 1000;
    runs[t].convMs.push(convMs);
    for (const [k, ms] of perCall) runs[t].calls.set(k, [...(runs[t].calls.get(k) ?? []), ms]);
  }
}
const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
const out = { model, size, batch, precision, steps, loadavg: [load0, loadavg()[0]].map((v) => +v.toFixed(2)), threads: {} };
for (const t of counts) {
  const r = runs[t];
  out.threads[t] = { msPerStep: +median(r.ms).toFixed(1), convMsPerStep: +median(r.convMs).toFixed(1), cpuMsPerStep: +(r.cpuMs / steps).toFixed(1) };
}
if (detail) {
  out.calls = [...runs[counts[0]].calls.keys()]
    .map((k) => ({ call: k, ...Object.fromEntries(counts.map((t) => [`ms${t}`, +median(runs[t].calls.get(k) ?? [0]).toFixed(2)])) }))
    .sort((p, q) => q[`ms${counts[0]}`] - p[`ms${counts[0]}`]);
}
console.log(JSON.stringify(out));
if (process.argv.includes('--md')) {
  for (const t of counts) {
    const r = out.threads[t];
    console.log(`| ${model} ${precision} | ${t} | ${r.msPerStep} | ${r.convMsPerStep} | ${r.cpuMsPerStep} |`);
  }
}
