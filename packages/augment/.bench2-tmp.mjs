import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@bag-of-tricks/backend';
import { createRng } from '@bag-of-tricks/core';
import * as aug from '/work/main/packages/augment/dist/index.js';
await initBackend('wasm', { log: () => {} });
const N = 32;
const images = tf.randomUniform([N, 224, 224, 3], 0, 255);
const labels = tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: N }, (_, i) => i % 10), 'int32'), 10), 'float32');
const rng = createRng(1);
const steps = { hsv: aug.colorJitter(), hsvNoHue: aug.colorJitter({hue: 0}), gluon: aug.colorJitter({form:'gluoncv'}), pca: aug.pcaLighting(), norm: aug.normalize(), mixup: aug.mixup() , flip: aug.horizontalFlip()};
for (const [name, t] of Object.entries(steps)) {
  const o = t({ images, labels }, rng); o.images.dataSync(); tf.dispose([o.images, o.labels]);
  const reps = 3; const t0 = performance.now();
  for (let k = 0; k < reps; k++) { const out = t({ images, labels }, rng); out.images.dataSync(); tf.dispose([out.images, out.labels]); }
  console.log(`${name}: ${((performance.now() - t0) / reps).toFixed(0)} ms per batch of 32 224x224`);
}
