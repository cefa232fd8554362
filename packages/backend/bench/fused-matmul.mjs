// ResNet-50's classifier forward on wasm ([32,2048] x [2048,1000] + bias, _FusedMatMul): our SIMD
// GEMM (default) against stock (BOT_FUSED_MATMUL=never); wall and CPU ms per call. The weights are
// a fresh tensor every call, as after each optimizer step.
//   BOT_NATIVE=0 node packages/backend/bench/fused-matmul.mjs   (after building the backend package)
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@bag-of-tricks/backend';

await initBackend('wasm', { log: () => {} });
const x = tf.randomNormal([32, 2048]);
const w0 = tf.randomNormal([2048, 1000]);
const bias = tf.randomNormal([1000]);
const f = () => tf.tidy(() => tf.fused.matMul({ a: x, b: tf.mul(w0, 1), bias }));
const time = (reps = 5) => {
  tf.dispose(f());
  const c = process.cpuUsage();
  const t = performance.now();
  for (let i = 0; i < reps; i++) tf.dispose(f());
  const cpu = process.cpuUsage(c);
  return `wall ${((performance.now() - t) / reps).toFixed(1)} ms, cpu ${((cpu.user + cpu.system) / 1000 / reps).toFixed(1)} ms`;
};
const copy = () => tf.tidy(() => tf.mul(w0, 1));
const tc = (() => { const c = process.cpuUsage(); for (let i = 0; i < 5; i++) tf.dispose(copy()); const u = process.cpuUsage(c); return (u.user + u.system) / 5000; })();
console.log(`(each call includes a weight copy, ${tc.toFixed(1)} ms CPU alone)`);
for (let round = 0; round < 2; round++) {
  process.env.BOT_FUSED_MATMUL = 'never';
  console.log(`stock (never): ${time()}`);
  delete process.env.BOT_FUSED_MATMUL;
  console.log(`ours:          ${time()}`);
}
