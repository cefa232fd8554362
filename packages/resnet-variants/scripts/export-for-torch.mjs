// For scripts/torch-fixtures.py. Import: loads each fixture's PyTorch file and records the largest logit difference
// from PyTorch's (import-check.json). Export: gives the model its own weights (see perturb), writes it with
// toSafetensors and writes our logits on the fixture's input, so PyTorch can check the export.
// Usage (after `npx tsup` in this package): node packages/resnet-variants/scripts/export-for-torch.mjs <out dir>
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildResNet, createResNet, float32Tensor, loadSafetensors, torchTensorSpecs, parseSafetensors, safetensorsToFloat32, toSafetensors, writeSafetensors } from '../dist/index.js';

const fixtures = new URL('../test/fixtures/safetensors/', import.meta.url).pathname;
const out = process.argv[2];
if (!out) throw new Error('usage: export-for-torch.mjs <out dir>');
await tf.setBackend('cpu');

function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Our own weights, well scaled: the fixture's weights (so activations stay O(1)) each multiplied by its own random
 * factor 1 + 0.05 * N(0, 1) (moving variances by a factor in [0.9, 1.1)), so no value equals the file's.
 */
function perturb(model, seed) {
  const uniform = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const values = layer.weights.map((w) => {
      const data = w.read().dataSync().slice();
      const variance = w.originalName.endsWith('/moving_variance');
      for (let i = 0; i < data.length; i++) data[i] *= variance ? 0.9 + 0.2 * uniform() : 1 + 0.05 * normal();
      return tf.tensor(data, w.shape);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}

const manifest = JSON.parse(readFileSync(join(fixtures, 'fixtures.json'), 'utf8'));
let seed = 1;
const imports = [];
for (const f of manifest.fixtures) {
  const io = parseSafetensors(readFileSync(join(fixtures, `${f.name}.io.safetensors`)));
  const input = io.tensors.get('input');
  for (const [key, strideOn] of Object.entries(f.logits)) {
    const model = buildResNet({ ...f.config, strideOn });
    loadSafetensors(model, readFileSync(join(fixtures, `${f.name}.safetensors`)), { naming: f.naming });
    const x = tf.tidy(() => tf.transpose(tf.tensor(safetensorsToFloat32(input), input.shape), [0, 2, 3, 1]));
    const torchLogits = safetensorsToFloat32(io.tensors.get(key));
    const imported = model.predict(x);
    const diff = imported.dataSync().reduce((m, v, i) => Math.max(m, Math.abs(v - torchLogits[i])), 0);
    imports.push({ fixture: f.name, logits: key, maxAbsDiff: diff });
    imported.dispose();
    perturb(model, seed++);
    const y = model.predict(x);
    writeFileSync(join(out, `${f.name}.${key}.ours.safetensors`), toSafetensors(model, { naming: f.naming }));
    writeFileSync(join(out, `${f.name}.${key}.ours-logits.safetensors`),
      writeSafetensors({ logits: float32Tensor(y.dataSync(), y.shape) }));
    tf.dispose([x, y]);
    model.dispose();
  }
}
writeFileSync(join(out, 'import-check.json'), JSON.stringify(imports));

// Full size: the real torchvision constructors and timm's resnet50d layout at 64 px. Our default init (Xavier,
// zero-gamma off), BN statistics and affine made non-trivial, exported; PyTorch checks keys, shapes and logits.
const full = [['resnet18', 'torchvision'], ['resnet50b', 'torchvision'], ['resnet50d', 'timm']];
const x64 = tf.tidy(() => tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 7));
writeFileSync(join(out, 'full-input.safetensors'),
  writeSafetensors({ input: float32Tensor(tf.tidy(() => tf.transpose(x64, [0, 3, 1, 2])).dataSync(), [2, 3, 64, 64]) }));
for (const [name, naming] of full) {
  const model = createResNet(name, { numClasses: 7, inputShape: [64, 64, 3], zeroGamma: false, seed: 3 });
  const uniform = mulberry32(seed++);
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const values = layer.weights.map((w) => {
      const kind = w.originalName.slice(w.originalName.lastIndexOf('/') + 1);
      const n = w.shape[0];
      const draw = kind === 'gamma' || kind === 'moving_variance' ? () => 0.8 + 0.4 * uniform() : () => 0.2 * (uniform() - 0.5);
      return tf.tensor(Float32Array.from({ length: n }, draw), w.shape);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
  const y = model.predict(x64);
  writeFileSync(join(out, `full-${name}.safetensors`), toSafetensors(model, { naming }));
  writeFileSync(join(out, `full-${name}.logits.safetensors`), writeSafetensors({ logits: float32Tensor(y.dataSync(), y.shape) }));
  y.dispose();
  model.dispose();
}
// Keys and shapes only (no weights written) for the deeper nets.
const specs = {};
for (const name of ['resnet34', 'resnet101b', 'resnet152b', 'resnet101d']) {
  const model = createResNet(name);
  specs[name] = torchTensorSpecs(model).map(({ key, shape }) => [key, shape]);
  model.dispose();
}
writeFileSync(join(out, 'full-specs.json'), JSON.stringify(specs));
