// Prints params and multiply-adds of every named variant (ImageNet ones at 224x224, 1000 classes; CIFAR at 32x32, 10).
// Usage (after `npx tsup` in this package): node packages/resnet-variants/scripts/variants-table.mjs
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { countFlops, countParams, createResNet, RESNET_NAMES } from '../dist/index.js';

await tf.setBackend('cpu');
console.log('| variant | params | multiply-adds |\n|---|---:|---:|');
for (const name of RESNET_NAMES) {
  const model = createResNet(name);
  console.log(`| ${name} | ${countParams(model).toLocaleString('en-US')} | ${(countFlops(model) / 1e9).toFixed(3)} G |`);
  model.dispose();
}
