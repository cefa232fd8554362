// CPU time (user + system) and wall time per CIFAR ResNet-20 training step on wasm, for A/B
// comparisons on a shared machine, where wall time mostly measures the neighbours' load.
//   node bench/step-cputime.mjs [--steps 6] [--threads 1] [--stock]   (--stock: tfjs-core's gradients and stock wasm kernels)
// Needs `npx tsup` here and a built @bag-of-tricks/resnet-variants.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { initBackend, unregisterFastGradients } from '@bag-of-tricks/backend';
import { createResNet } from '@bag-of-tricks/resnet-variants';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
};
const steps = arg('steps', 6);
const threads = arg('threads', 1);
const batch = arg('batch', 64);
await import('@tensorflow/tfjs-backend-wasm');
const stockReductions = ['Sum', 'Mean'].map((name) => tf.getKernel(name, 'wasm'));
await initBackend('wasm', { log: () => {}, wasmThreads: threads });
if (process.argv.includes('--stock')) {
  // tfjs-core's gradients and the stock reductions; the conv backprop kernels stay ours (wasm lacks them).
  unregisterFastGradients();
  for (const k of stockReductions) {
    tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel(k);
  }
}
const net = createResNet('resnet20', { inputShape: [32, 32, 3], numClasses: 10, seed: 7 });
const optimizer = tf.train.momentum(0.1, 0.9, true);
const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', 11);
const labels = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 7) % 10), 'int32'), 10);
const step = () => tf.tidy(() => optimizer.minimize(() => tf.losses.softmaxCrossEntropy(labels, net.apply(x, { training: true })), true).dataSync()[0]);
const losses = [step(), step()];
const cpu = [];
const wall = [];
for (let i = 0; i < steps; i++) {
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  step();
  const c = process.cpuUsage(c0);
  wall.push(performance.now() - w0);
  cpu.push((c.user + c.system) / 1000);
}
const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
console.log(JSON.stringify({ threads, batch, cpuMsPerStep: median(cpu), wallMsPerStep: median(wall), imgPerSecWall: (batch * 1000) / median(wall), imgPerCpuSec: (batch * 1000) / median(cpu), losses }));
