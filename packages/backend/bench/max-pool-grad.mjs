// ResNet-50's 64px stem pool gradient on wasm (batch 32: x [32,34,34,64], 3x3 stride 2 valid):
// our SIMD kernel (default) against the JS loop (BOT_MAXPOOL_GRAD_SIMD=never); wall and CPU ms per call.
//   BOT_NATIVE=0 node packages/backend/bench/max-pool-grad.mjs   (after building the backend package)
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@bag-of-tricks/backend';

await initBackend('wasm', { log: () => {} });
const x = tf.randomNormal([32, 34, 34, 64]);
const y = tf.maxPool(x, 3, 2, 'valid');
const dy = tf.randomNormal(y.shape);
const call = () => tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: 3, strides: 2, pad: 'valid' });
const time = (reps = 5) => {
  tf.dispose(call());
  const c = process.cpuUsage();
  const t = performance.now();
  for (let i = 0; i < reps; i++) tf.dispose(call());
  const cpu = process.cpuUsage(c);
  return `wall ${((performance.now() - t) / reps).toFixed(1)} ms, cpu ${((cpu.user + cpu.system) / 1000 / reps).toFixed(1)} ms`;
};
for (let round = 0; round < 2; round++) {
  process.env.BOT_MAXPOOL_GRAD_SIMD = 'never';
  console.log(`JS loop (never): ${time()}`);
  delete process.env.BOT_MAXPOOL_GRAD_SIMD;
  console.log(`SIMD (default):  ${time()}`);
}
process.env.BOT_MAXPOOL_GRAD_SIMD = 'never';
const a = call();
delete process.env.BOT_MAXPOOL_GRAD_SIMD;
const b = call();
console.log(`bitwise equal to the JS loop: ${tf.all(tf.equal(a, b)).dataSync()[0] === 1}`);
