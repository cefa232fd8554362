// The training step of scripts/bench/train-step.mjs (forward + backward + Nesterov update on a fixed random
// batch; img/s = batch / median step time), in a Web Worker on wasm with our SIMD kernels: 1 worker, or
// N data-parallel replicas (the trainer's step over Web Workers and SharedArrayBuffer).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { createResNet, type ResNetName } from '@bag-of-tricks/resnet-variants';
import { createDataParallelStep, webWorkerTransport, type DataParallelStep } from '@bag-of-tricks/trainer/core';
import { startBackend } from './backend';

self.onmessage = async (event: MessageEvent<Record<string, string>>) => {
  const p = event.data;
  const model = p.model ?? 'resnet20';
  const size = Number(p.size ?? 32);
  const batch = Number(p.batch ?? 64);
  const classes = Number(p.classes ?? 10);
  const workers = Number(p.workers ?? 1);
  const seconds = Number(p.seconds ?? 6);
  try {
    const backend = await startBackend('wasm', () => {});
    const net = createResNet(model as ResNetName, { inputShape: [size, size, 3], numClasses: classes, seed: 7 });
    const optimizer = tf.train.momentum(0.1, 0.9, true);
    const x = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
    const labels = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 7) % classes), 'int32'), classes);
    const labelsFloat = tf.cast(labels, 'float32') as tf.Tensor2D;
    let dp: DataParallelStep | undefined;
    if (workers > 1) {
      dp = await createDataParallelStep({
        model: net,
        optimizer,
        workers,
        transport: webWorkerTransport(() => new Worker(new URL('./replica-worker.ts', import.meta.url), { type: 'module' })),
      });
    }
    const step = async (): Promise<number> =>
      dp
        ? dp.step({ images: x, labels: labelsFloat })
        : tf.tidy(() => (optimizer.minimize(() => tf.losses.softmaxCrossEntropy(labels, net.apply(x, { training: true }) as tf.Tensor), true) as tf.Scalar).dataSync()[0]!);
    const firstLoss = await step();
    await step();
    const times: number[] = [];
    const start = performance.now();
    while (times.length < 3 || performance.now() - start < seconds * 1000) {
      const s = performance.now();
      await step();
      times.push(performance.now() - s);
    }
    times.sort((a, b) => a - b);
    const msPerStep = times[Math.floor(times.length / 2)]!;
    await dp?.dispose();
    self.postMessage({ engine: workers > 1 ? 'browser wasm dp' : 'browser wasm', backend, model, batch, workers, steps: times.length, msPerStep, imgPerSec: (1000 * batch) / msPerStep, firstLoss, crossOriginIsolated: p.crossOriginIsolated, hardwareConcurrency: Number(p.cores) });
  } catch (err) {
    self.postMessage({ error: err instanceof Error ? `${err.message}\n${err.stack}` : String(err) });
  }
};
