import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@bag-of-tricks/backend';
import { createRng } from '@bag-of-tricks/core';
import * as aug from '../dist/index.js';
// Augment-only throughput (no decoding). Run: npm run build, then node packages/augment/bench/transforms.mjs [wasm|cpu]
const backend = process.argv[2] ?? 'wasm';
await initBackend(backend, { log: () => {} });
const N = 32;
const images = tf.randomUniform([N, 256, 320, 3], 0, 255);
const labels = tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: N }, (_, i) => i % 10), 'int32'), 10), 'float32');
const rng = createRng(1);
const steps = {
  rrc: aug.randomResizedCrop(),
  rrcFlip: aug.compose(aug.randomResizedCrop(), aug.horizontalFlip()),
  paper: aug.trainPipeline({ mixup: true }),
  gluoncv: aug.trainPipeline({ preset: 'gluoncv' }),
  eval: aug.evalPipeline(),
};
for (const [name, t] of Object.entries(steps)) {
  const o = t({ images, labels }, rng); o.images.dataSync(); tf.dispose([o.images, o.labels]);
  const reps = 3; const t0 = performance.now();
  for (let k = 0; k < reps; k++) { const out = t({ images, labels }, rng); out.images.dataSync(); tf.dispose([out.images, out.labels]); }
  const s = (performance.now() - t0) / 1000 / reps;
  console.log(`${backend} ${name}: ${(N / s).toFixed(0)} img/s (batch ${N}, 256x320 -> 224)`);
}
