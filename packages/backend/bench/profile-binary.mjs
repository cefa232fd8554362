// Lists the Add/Sub/Multiply (and any --kernels a,b) calls of one warm ResNet training step on wasm by
// shape: total ms, calls, elements, whether same-shape / scalar / broadcast. Needs built packages.
//   BOT_NATIVE=0 node packages/backend/bench/profile-binary.mjs --model resnet50 --size 64 --batch 32 --classes 1000
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { initBackend } from '@bag-of-tricks/backend';
import { createResNet } from '@bag-of-tricks/resnet-variants';

const arg = (n, f) => { const i = process.argv.indexOf(`--${n}`); return i < 0 ? f : typeof f === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1]; };
const model = arg('model', 'resnet50'); const size = arg('size', 64); const batch = arg('batch', 32); const classes = arg('classes', 1000);
const kernels = new Set(arg('kernels', 'Add,Sub,Multiply').split(','));
await initBackend('wasm', { log: () => {} });
const net = createResNet(model, { inputShape: [size, size, 3], numClasses: classes, seed: 7 });
const opt = tf.train.momentum(0.1, 0.9, true);
const x = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 11);
const labels = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 7) % classes), 'int32'), classes);
const step = () => tf.tidy(() => opt.minimize(() => tf.losses.softmaxCrossEntropy(labels, net.apply(x, { training: true })), true).dataSync()[0]);
step(); step();
const info = await tf.profile(() => { step(); });
const size_ = (s) => (s ?? []).reduce((p, d) => p * d, 1);
const by = new Map();
let total = 0;
for (const k of info.kernels) {
  if (k.name.endsWith('__op')) continue;
  const ms = Number(await k.kernelTimeMs) || 0;
  total += ms;
  if (!kernels.has(k.name)) continue;
  const [a, b] = k.inputShapes;
  const kind = !b ? '-' : JSON.stringify(a) === JSON.stringify(b) ? 'same' : size_(a) === 1 || size_(b) === 1 ? 'scalar' : 'bcast';
  const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
  const e = by.get(key) ?? { kernel: k.name, shapes: JSON.stringify(k.inputShapes), kind, elems: Math.max(...k.inputShapes.map(size_)), ms: 0, calls: 0 };
  e.ms += ms; e.calls++; by.set(key, e);
}
const rows = [...by.values()].sort((p, q) => q.ms - p.ms);
const sum = (f) => rows.filter(f).reduce((s, r) => s + r.ms, 0);
console.log(`step kernel ms ${total.toFixed(1)}; listed ${sum(() => true).toFixed(1)} ms in ${rows.reduce((s, r) => s + r.calls, 0)} calls`);
for (const kind of ['same', 'scalar', 'bcast']) for (const lim of [0, 4096, 65536]) {
  const f = (r) => r.kind === kind && r.elems >= lim;
  console.log(`${kind} elems>=${lim}: ${sum(f).toFixed(1)} ms, ${rows.filter(f).reduce((s, r) => s + r.calls, 0)} calls`);
}
for (const r of rows.slice(0, arg('top', 30))) console.log(`${r.ms.toFixed(2).padStart(8)} ms ${String(r.calls).padStart(4)}x ${r.kind.padEnd(6)} ${String(r.elems).padStart(9)} ${r.kernel} ${r.shapes}`);
