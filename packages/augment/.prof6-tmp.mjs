import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@bag-of-tricks/backend';
import { createRng } from '@bag-of-tricks/core';
import * as aug from '/work/main/packages/augment/dist/index.js';
await initBackend('wasm', { log: () => {} });
const N = 32;
const images = tf.randomUniform([N, 256, 320, 3], 0, 255);
const labels = tf.zeros([N, 10]);
const rng = createRng(1);
for (const preset of ['paper', 'gluoncv']) {
const t = aug.trainPipeline({preset, mixup: true});
tf.dispose(Object.values(t({images, labels}, rng)));
const info = await tf.profile(() => { const o = t({ images, labels }, rng); return [o.images, o.labels]; });
const agg = {};
let total = 0;
for (const k of info.kernels) { const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0; total += ms; agg[k.name] = agg[k.name] ?? [0, 0]; agg[k.name][0] += ms; agg[k.name][1]++; }
console.log(preset, 'total', total.toFixed(0), 'ms\n' + Object.entries(agg).sort((a,b)=>b[1][0]-a[1][0]).slice(0,8).map(([n,[ms,c]])=>`${n} ${ms.toFixed(0)}ms x${c}`).join('\n'));
}
