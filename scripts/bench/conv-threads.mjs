// Conv-heavy wasm ops at a fixed thread count (one process per count); prints one JSON line.
// scripts/bench.mjs alternates 1 and N threads over several rounds and keeps each op's best
// time, so a busy shared machine penalises both counts alike.
//   node scripts/bench/conv-threads.mjs --threads 2
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers gradients
import { initBackend, wasmThreadsInUse } from '@bag-of-tricks/backend';

const i = process.argv.indexOf('--threads');
const threads = i >= 0 ? Number(process.argv[i + 1]) : 1;
await initBackend('wasm', { log: () => {}, wasmThreads: threads });

const randn = (shape, seed) => tf.randomNormal(shape, 0, 1, 'float32', seed);
const cases = [
  { name: 'conv 3x3 16->16, 64x32x32 (ResNet-20 stage 1)', x: [64, 32, 32, 16], f: [3, 3, 16, 16], s: 1 },
  { name: 'conv 3x3 64->64, 64x8x8 (ResNet-20 stage 3)', x: [64, 8, 8, 64], f: [3, 3, 64, 64], s: 1 },
  { name: 'conv 3x3 64->64, 32x16x16 (ResNet-50 64px stage 1)', x: [32, 16, 16, 64], f: [3, 3, 64, 64], s: 1 },
  { name: 'conv 1x1 256->64, 32x16x16 (ResNet-50 bottleneck)', x: [32, 16, 16, 256], f: [1, 1, 256, 64], s: 1 },
];
function best(fn, reps = 5) {
  tf.dispose(fn());
  let min = Infinity;
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    const out = fn();
    (Array.isArray(out) ? out : [out]).forEach((o) => o.dataSync());
    min = Math.min(min, performance.now() - t);
    tf.dispose(out);
  }
  return min;
}
const ops = {};
let checksum = 0;
for (const c of cases) {
  const x = randn(c.x, 1);
  const f = randn(c.f, 2);
  const forward = () => tf.conv2d(x, f, c.s, 'same');
  const backward = () => tf.grads((xi, fi) => tf.sum(tf.conv2d(xi, fi, c.s, 'same')))([x, f]);
  ops[`${c.name} forward`] = best(forward);
  ops[`${c.name} backward (dx + dw)`] = best(backward);
  checksum += tf.tidy(() => tf.sum(forward()).dataSync()[0] + backward().reduce((s, g) => s + tf.sum(g).dataSync()[0], 0));
  tf.dispose([x, f]);
}
const a = randn([1024, 1024], 3);
ops['matMul 1024x1024x1024'] = best(() => tf.matMul(a, a));
console.log(JSON.stringify({ threads: await wasmThreadsInUse(), ops, checksum }));
