#!/usr/bin/env node
// Trains a small ResNet-D on Fashion-MNIST with every trick of He et al. 2019 that fits the data:
// NAG, linear lr scaling, warmup + cosine, zero-gamma, no bias decay, label smoothing and mixup.
//
//   npm run example                                   # embedded 6k/1k subset, a few minutes on 2 cores
//   npm run example -- --data /usr/share/datasets/fashion-mnist --epochs 10   # the full 60k/10k set
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { train } from '@bag-of-tricks/trainer';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    epochs: { type: 'string' },
    out: { type: 'string', default: 'runs/fashion-mnist' },
    backend: { type: 'string', default: 'auto' },
    seed: { type: 'string', default: '0' },
    workers: { type: 'string', default: String(availableParallelism()) },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(`Usage: node examples/fashion-mnist/train.mjs [--data DIR] [--epochs N] [--out DIR] [--backend auto|wasm|cpu|tensorflow] [--seed N] [--workers N]
  --data DIR   a folder with the Fashion-MNIST IDX files (Debian: /usr/share/datasets/fashion-mnist); default: the embedded subset
  --epochs N   default 5 on the embedded subset, 10 on the full set
  --workers N  data-parallel replicas, one per core (BatchNorm per replica, as on N GPUs); default: all cores`);
  process.exit(0);
}

const full = values.data !== undefined;
const config = {
  // ResNet-18-D layout, one block per stage, a quarter of the width, 3x3 stride-1 stem for 28x28 inputs.
  model: { name: 'resnet18d', options: { stem: 'small', width: 0.25, layers: [1, 1, 1, 1], zeroGamma: true } },
  data: full ? { source: 'idx', dir: values.data } : { source: 'embedded' },
  epochs: Number(values.epochs ?? (full ? 10 : 5)),
  batchSize: 64,
  optimizer: { kind: 'nag', momentum: 0.9 },
  baseLr: 0.4, // linear scaling: lr = 0.4 * 64 / 256 = 0.1
  linearScaling: true,
  warmupEpochs: 1,
  schedule: { kind: 'cosine' },
  weightDecay: 1e-4,
  noBiasDecay: true,
  labelSmoothing: { epsilon: 0.1, form: 'uniform' },
  mixup: { alpha: 0.2, offEpochs: 1 },
  seed: Number(values.seed),
  workers: Number(values.workers),
  backend: values.backend,
  checkpoint: { every: 0, keep: 2 },
  out: values.out,
  logEvery: 5,
};

const result = await train(config, { configSource: 'examples/fashion-mnist/train.mjs' });
console.log(
  `\nFinal accuracy on the ${full ? 'full Fashion-MNIST test set (10,000 images)' : 'embedded test subset (1,000 images)'}: ` +
    `top-1 ${(100 * result.top1).toFixed(2)}%, top-5 ${(100 * result.top5).toFixed(2)}% ` +
    `after ${result.steps} steps in ${result.seconds.toFixed(0)} s on ${result.backend}.`,
);
console.log(`Report: ${result.reportPath}`);
