// ResNet-50's 64px stem gradients on wasm (batch 32: x [32,70,70,3] pre-padded, 7x7x3x64, stride 2,
// valid): Conv2DBackpropInput with the few-channel GEMM kernel (default) against BOT_BPI_GEMM=never
// (the previous path), and Conv2DBackpropFilter with the im2col GEMM kernel against BOT_BPF_GEMM=never;
// wall and CPU ms per call, alternated A/B.
//   node packages/backend/bench/stem.mjs [--batch 32] [--reps 5]   (after building the backend package)
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@bag-of-tricks/backend';

const arg = (n, f) => { const i = process.argv.indexOf(`--${n}`); return i < 0 ? f : Number(process.argv[i + 1]); };
const batch = arg('batch', 32);
const reps = arg('reps', 5);
await initBackend('wasm', { log: () => {} });
const x = tf.randomNormal([batch, 70, 70, 3]);
const w = tf.randomNormal([7, 7, 3, 64]);
const dy = tf.randomNormal([batch, 32, 32, 64]);
const attrs = { strides: 2, pad: 'valid', dataFormat: 'NHWC', dilations: 1 };
const bpi = () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape });
const bpf = () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape });
const time = (f) => {
  tf.dispose(f());
  const c = process.cpuUsage();
  const t = performance.now();
  for (let i = 0; i < reps; i++) tf.dispose(f());
  const cpu = process.cpuUsage(c);
  return { wall: (performance.now() - t) / reps, cpu: (cpu.user + cpu.system) / 1000 / reps };
};
const fmt = (r) => `wall ${r.wall.toFixed(1)} ms, cpu ${r.cpu.toFixed(1)} ms`;
for (let round = 0; round < 2; round++) {
  process.env.BOT_BPI_GEMM = 'never';
  console.log(`BPI previous (BOT_BPI_GEMM=never): ${fmt(time(bpi))}`);
  delete process.env.BOT_BPI_GEMM;
  console.log(`BPI GEMM + col2im (default):       ${fmt(time(bpi))}`);
  process.env.BOT_BPF_GEMM = 'never';
  console.log(`BPF previous (BOT_BPF_GEMM=never): ${fmt(time(bpf))}`);
  delete process.env.BOT_BPF_GEMM;
  console.log(`BPF im2col GEMM (default):         ${fmt(time(bpf))}`);
}
// Agreement of the two paths (max abs difference over max abs value).
for (const [name, key, f] of [['BPI', 'BOT_BPI_GEMM', bpi], ['BPF', 'BOT_BPF_GEMM', bpf]]) {
  process.env[key] = 'never';
  const a = f();
  delete process.env[key];
  const b = f();
  const diff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / tf.max(tf.abs(a)).dataSync()[0];
  console.log(`${name}: relative max difference between the two paths: ${diff.toExponential(2)}`);
}
