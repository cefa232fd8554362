// K = 1 BatchMatMul (outer products, as in a ResNet-50 step's BatchNorm gradients) on wasm:
// our SIMD kernel (default) against stock (BOT_OUTER_PRODUCT=never); wall and CPU us per call.
//   BOT_NATIVE=0 node packages/backend/bench/outer-product.mjs   (after building the backend package)
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@bag-of-tricks/backend';

await initBackend('wasm', { log: () => {} });
const time = (f, reps) => {
  tf.dispose(f());
  const c = process.cpuUsage();
  const t = performance.now();
  for (let i = 0; i < reps; i++) tf.dispose(f());
  const cpu = process.cpuUsage(c);
  return `wall ${(((performance.now() - t) / reps) * 1000).toFixed(0)} us, cpu ${((cpu.user + cpu.system) / reps).toFixed(0)} us`;
};
for (const [m, n] of [[8192, 256], [2048, 512], [8192, 64], [512, 1024], [32768, 64]]) {
  const a = tf.randomNormal([m, 1]);
  const b = tf.randomNormal([1, n]);
  const f = () => tf.matMul(a, b);
  for (let round = 0; round < 2; round++) {
    process.env.BOT_OUTER_PRODUCT = 'never';
    const s = time(f, 50);
    delete process.env.BOT_OUTER_PRODUCT;
    console.log(`[${m},1]x[1,${n}]  stock: ${s}   ours: ${time(f, 50)}`);
  }
  tf.dispose([a, b]);
}
