// The optimizer update alone on ResNet-50's variables (64x64 input, 1000 classes: 25.6M parameters): NAG with
// weight decay 1e-4 on every variable, through the trainer's applyGradientsWithDecay, native fused update vs
// tfjs's ops (BOT_NATIVE_OPTIMIZER=never), alternated. Prints one JSON line.
//   BOT_NATIVE=1 BOT_NATIVE_THREADS=1 node scripts/bench/optimizer-step.mjs [--rounds 6]
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { initBackend } from '@bag-of-tricks/backend';
import { createResNet } from '@bag-of-tricks/resnet-variants';
import { applyGradientsWithDecay } from '@bag-of-tricks/trainer';

const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1] || 6);
await initBackend('wasm', { log: () => {} });
const net = createResNet('resnet50', { inputShape: [64, 64, 3], numClasses: 1000, seed: 7 });
const vars = net.trainableWeights.map((w) => w.read());
const params = vars.reduce((s, v) => s + v.size, 0);
const grads = Object.fromEntries(vars.map((v, i) => [v.name, tf.randomNormal(v.shape, 0, 1e-3, 'float32', i)]));
const time = (mode, opt) => {
  process.env.BOT_NATIVE_OPTIMIZER = mode;
  const t0 = performance.now();
  tf.tidy(() => applyGradientsWithDecay(opt, grads, vars, 1e-4));
  vars[0].dataSync(); // wasm is synchronous; this only makes sure the step finished
  return performance.now() - t0;
};
const native = tf.train.momentum(0.1, 0.9, true);
const tfjs = tf.train.momentum(0.1, 0.9, true);
time('auto', native); // accumulators created, buffers warm
time('never', tfjs);
const ms = { auto: [], never: [] };
for (let r = 0; r < rounds; r++) for (const mode of r % 2 ? ['never', 'auto'] : ['auto', 'never']) ms[mode].push(time(mode, mode === 'auto' ? native : tfjs));
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(JSON.stringify({ params, threads: process.env.BOT_NATIVE_THREADS ?? 'all', nativeMs: median(ms.auto), tfjsMs: median(ms.never), rounds }));
