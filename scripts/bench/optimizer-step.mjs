// The fused native optimizer update (BOT_NATIVE_OPTIMIZER=auto) against tfjs's ops (never), alternated in ONE
// process, so machine load hits both alike. Both paths give bitwise the same weights, so one model and one
// optimizer serve both. Prints one JSON line.
//   BOT_NATIVE=1 BOT_NATIVE_THREADS=1 node scripts/bench/optimizer-step.mjs [--rounds 6]
//     the update alone on ResNet-50's variables (64x64 input, 1000 classes: 25.6M parameters): NAG, weight
//     decay 1e-4 on every variable, through the trainer's applyGradientsWithDecay;
//   ... --step [--precision bfloat16] [--rounds 8]
//     the whole bench step (scripts/bench/train-step.mjs's: batch 32, forward, backward, NAG without decay).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { initBackend } from '@bag-of-tricks/backend';
import { createResNet } from '@bag-of-tricks/resnet-variants';
import { applyGradientsWithDecay } from '@bag-of-tricks/trainer';

const arg = (name, fallback) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback);
const wholeStep = process.argv.includes('--step');
const rounds = Number(arg('rounds', wholeStep ? 8 : 6));
const precision = arg('precision', 'float32');
await initBackend('wasm', { log: () => {}, ...(precision !== 'float32' ? { precision } : {}) });
const net = createResNet('resnet50', { inputShape: [64, 64, 3], numClasses: 1000, seed: 7 });
const vars = net.trainableWeights.map((w) => w.read());
const params = vars.reduce((s, v) => s + v.size, 0);
const optimizer = tf.train.momentum(0.1, 0.9, true);

let run;
if (wholeStep) {
  const x = tf.randomNormal([32, 64, 64, 3], 0, 1, 'float32', 11);
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => (i * 7) % 1000), 'int32'), 1000);
  run = () =>
    tf.tidy(() => {
      const { value, grads } = optimizer.computeGradients(() => tf.losses.softmaxCrossEntropy(labels, net.apply(x, { training: true })), vars);
      applyGradientsWithDecay(optimizer, grads, [], 0);
      return value.dataSync()[0];
    });
} else {
  const grads = Object.fromEntries(vars.map((v, i) => [v.name, tf.randomNormal(v.shape, 0, 1e-3, 'float32', i)]));
  run = () => {
    tf.tidy(() => applyGradientsWithDecay(optimizer, grads, vars, 1e-4));
    vars[0].dataSync();
  };
}
const time = (mode) => {
  process.env.BOT_NATIVE_OPTIMIZER = mode;
  const t0 = performance.now();
  run();
  return performance.now() - t0;
};
time('auto'); // accumulators created, kernels and buffers warm
time('never');
const ms = { auto: [], never: [] };
for (let r = 0; r < rounds; r++) for (const mode of r % 2 ? ['never', 'auto'] : ['auto', 'never']) ms[mode].push(time(mode));
const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
console.log(JSON.stringify({ what: wholeStep ? `ResNet-50 step, batch 32, ${precision}` : 'update alone', params, threads: process.env.BOT_NATIVE_THREADS ?? 'all', nativeMs: median(ms.auto), tfjsMs: median(ms.never), rounds, all: ms }));
