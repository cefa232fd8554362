// Same-shape and scalar float32 Add/Sub/Multiply on wasm: stock against our SIMD loop
// (BOT_SIMD_BINARY=never vs always, toggled in-process), microseconds per call by size.
//   node packages/backend/bench/binary-cutoff.mjs   (after building the backend package)
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@bag-of-tricks/backend';

await initBackend('wasm', { log: () => {} });
const sizes = [64, 256, 512, 1024, 2048, 4096, 16384, 65536, 262144, 1048576, 2097152];
const time = (f, n) => {
  for (let i = 0; i < 3; i++) f();
  const reps = Math.max(5, Math.min(2000, Math.floor(2e7 / n)));
  const t = performance.now();
  for (let i = 0; i < reps; i++) f();
  return ((performance.now() - t) / reps) * 1000;
};
console.log('kind    op       elements   stock_us   simd_us  ratio');
for (const kind of ['same', 'scalar']) for (const n of sizes) {
  const a = tf.randomNormal([n]);
  const b = kind === 'same' ? tf.randomNormal([n]) : tf.scalar(1.5);
  for (const [op, f] of [['Add', tf.add], ['Multiply', tf.mul]]) {
    const run = () => f(a, b).dispose();
    process.env.BOT_SIMD_BINARY = 'never';
    const s = time(run, n);
    process.env.BOT_SIMD_BINARY = 'always';
    const o = time(run, n);
    console.log(`${kind.padEnd(7)} ${op.padEnd(8)} ${String(n).padStart(8)} ${s.toFixed(1).padStart(10)} ${o.toFixed(1).padStart(9)} ${(s / o).toFixed(2).padStart(6)}`);
  }
  tf.dispose([a, b]);
}
