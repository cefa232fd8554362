import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@bag-of-tricks/backend';
import { registerFileRouter } from '@bag-of-tricks/data';
import { createResNet } from '@bag-of-tricks/resnet-variants';
import { expectNoLeak } from '@bag-of-tricks/test-utils';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createDataParallelStep,
  createOptimizer,
  createStepLoss,
  createTrainStep,
  shardBounds,
  splitDecayVariables,
  train,
  workerThreadsTransport,
  type DataParallelStep,
  type DataParallelTransport,
  type StepLossConfig,
} from '../src';
import { quiet, tempOut, tinyConfig } from './helpers';

// The workers run dist/dp-worker.js (npm test builds every package first); the main thread runs src.
const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');

beforeAll(async () => {
  await initBackend('wasm', { log: () => {} });
  registerFileRouter();
  expect(existsSync(join(dist, 'dp-worker.js')), `${dist}/dp-worker.js is missing: run \`npm run build\` first`).toBe(true);
});

const open: DataParallelStep[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((dp) => dp.dispose()));
});
async function dataParallel(...args: Parameters<typeof createDataParallelStep>): Promise<DataParallelStep> {
  const dp = await createDataParallelStep(...args);
  open.push(dp);
  return dp;
}

/** conv 3x3 (bias) -> relu -> conv 3x3 stride 2 -> relu -> flatten -> dense: no BatchNorm, seeded. */
function convNet(): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 3] });
  let x = tfl.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }), biasInitializer: tfl.initializers.constant({ value: 0.05 }) }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.reLU().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.flatten().apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 5, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }), biasInitializer: 'zeros' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

/** Batch s: random images, soft (smoothed, mixed-looking) targets and teacher logits, all seeded. */
function batchAt(s: number, size: number, side = 8, classes = 5): { images: tf.Tensor4D; labels: tf.Tensor2D; teacher: tf.Tensor2D } {
  return tf.tidy(() => {
    const images = tf.randomNormal([size, side, side, 3], 0, 1, 'float32', 100 + s) as tf.Tensor4D;
    const labels = tf.softmax(tf.mul(tf.randomNormal([size, classes], 0, 1, 'float32', 200 + s), 3)) as tf.Tensor2D;
    const teacher = tf.randomNormal([size, classes], 0, 2, 'float32', 300 + s) as tf.Tensor2D;
    return { images, labels, teacher };
  });
}

/**
 * worker_threads, except that once `arm(r)` is called the next step message to replica r loses its last
 * image value: the replica's own shard check must fail, and the step must surface it (a test-only transport).
 */
function faultyTransport(): DataParallelTransport & { arm(replica: number): void } {
  const inner = workerThreadsTransport();
  let armed: number | null = null;
  return {
    kind: inner.kind,
    prepare: inner.prepare!,
    arm: (replica) => void (armed = replica),
    spawn(init, listener) {
      const handle = inner.spawn(init, listener);
      return {
        terminate: () => handle.terminate(),
        postMessage(msg, transfer) {
          if (msg.type === 'step' && armed === init.replica) {
            armed = null;
            const images = msg.images.slice(0, -1);
            return handle.postMessage({ ...msg, images }, [images.buffer, ...transfer.slice(1)]);
          }
          handle.postMessage(msg, transfer);
        },
      };
    },
  };
}

const values = (model: tfl.LayersModel): Float32Array[] => model.weights.map((w) => Float32Array.from(w.read().dataSync() as Float32Array));

describe('shardBounds', () => {
  it('splits into contiguous shards whose sizes differ by at most one', () => {
    expect(shardBounds(10, 3)).toEqual([[0, 4], [4, 7], [7, 10]]);
    expect(shardBounds(64, 2)).toEqual([[0, 32], [32, 64]]);
    expect(shardBounds(5, 5)).toEqual([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]);
  });
});

describe('createDataParallelStep (wasm)', () => {
  const cases: { name: string; workers: number; batch: number; loss: StepLossConfig }[] = [
    { name: '2 replicas, cross-entropy on soft targets', workers: 2, batch: 10, loss: {} },
    { name: '3 replicas of 4/3/3 images, distillation', workers: 3, batch: 10, loss: { distillation: { temperature: 4, form: 'paper', hardWeight: 0.3, softTerm: 'kl' } } },
  ];
  for (const c of cases) {
    it(`without BatchNorm, ${c.name}: the losses and weights of single-process training (NAG, weight decay)`, async () => {
      const steps = 4;
      const reference = convNet();
      const model = convNet();
      expect(values(model)).toEqual(values(reference)); // seeded initialisers: the same start
      const refOpt = createOptimizer({ kind: 'nag', momentum: 0.9 }, 0.1);
      const opt = createOptimizer({ kind: 'nag', momentum: 0.9 }, 0.1);
      const refStep = createTrainStep({ model: reference, optimizer: refOpt, loss: createStepLoss(c.loss), decayVariables: splitDecayVariables(reference, true).decay, weightDecay: 0.01 });
      const dp = await dataParallel({ model, optimizer: opt, workers: c.workers, loss: c.loss, decayVariables: splitDecayVariables(model, true).decay, weightDecay: 0.01 });
      const useTeacher = c.loss.distillation !== undefined;
      for (let s = 0; s < steps; s++) {
        const b = batchAt(s, c.batch);
        const refLoss = refStep({ images: b.images, labels: b.labels }, useTeacher ? b.teacher : undefined);
        const expected = refLoss.dataSync()[0]!;
        refLoss.dispose();
        const got = await dp.step({ images: b.images, labels: b.labels }, useTeacher ? b.teacher : undefined);
        expect(Math.abs(got - expected) / Math.abs(expected), `step ${s}: ${got} vs ${expected}`).toBeLessThan(1e-5);
        tf.dispose(b);
      }
      const want = values(reference);
      const have = values(model);
      want.forEach((w, i) => {
        const maxAbs = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const maxDiff = w.reduce((m, v, j) => Math.max(m, Math.abs(v - have[i]![j]!)), 0);
        expect(maxDiff / maxAbs, `weight ${model.weights[i]!.name}`).toBeLessThan(1e-5);
      });
      // The weights did move (the comparison above is not of two untouched models).
      expect(values(model)[0]).not.toEqual(values(convNet())[0]);
      tf.dispose([refOpt, opt] as never);
      reference.dispose();
      model.dispose();
    });
  }

  it('on the cpu backend too: 2 cpu replicas give the losses and weights of single-process cpu training', async () => {
    await tf.setBackend('cpu');
    try {
      const reference = convNet();
      const model = convNet();
      const refOpt = createOptimizer({ kind: 'sgd', momentum: 0.9 }, 0.1);
      const opt = createOptimizer({ kind: 'sgd', momentum: 0.9 }, 0.1);
      const refStep = createTrainStep({ model: reference, optimizer: refOpt, loss: createStepLoss() });
      const dp = await dataParallel({ model, optimizer: opt, workers: 2 });
      for (let s = 0; s < 3; s++) {
        const b = batchAt(s, 9);
        const refLoss = refStep(b);
        const expected = refLoss.dataSync()[0]!;
        refLoss.dispose();
        const got = await dp.step(b);
        expect(Math.abs(got - expected) / expected, `step ${s}`).toBeLessThan(1e-5);
        tf.dispose(b);
      }
      const want = values(reference);
      values(model).forEach((w, i) => w.forEach((v, j) => expect(Math.abs(v - want[i]![j]!)).toBeLessThan(1e-5)));
      await dp.syncWeights();
      expect(await dp.replicaWeights(1)).toEqual(values(model));
      reference.dispose();
      model.dispose();
    } finally {
      await tf.setBackend('wasm');
    }
  });

  it('workers: 1 is bitwise the single-process step', async () => {
    const reference = convNet();
    const model = convNet();
    const refOpt = createOptimizer({ kind: 'nag', momentum: 0.9 }, 0.1);
    const opt = createOptimizer({ kind: 'nag', momentum: 0.9 }, 0.1);
    const refStep = createTrainStep({ model: reference, optimizer: refOpt, loss: createStepLoss(), decayVariables: splitDecayVariables(reference, false).decay, weightDecay: 1e-3 });
    const dp = await dataParallel({ model, optimizer: opt, workers: 1, decayVariables: splitDecayVariables(model, false).decay, weightDecay: 1e-3 });
    for (let s = 0; s < 3; s++) {
      const b = batchAt(s, 6);
      const refLoss = refStep(b);
      expect(await dp.step(b)).toBe(refLoss.dataSync()[0]);
      refLoss.dispose();
      tf.dispose(b);
    }
    expect(values(model)).toEqual(values(reference));
    reference.dispose();
    model.dispose();
  });

  it('with BatchNorm, 2 replicas: the loss falls and every replica holds bitwise the same weights and BN statistics', async () => {
    const model = createResNet('resnet18d', { stem: 'small', width: 0.125, layers: [1, 1, 1, 1], inputShape: [8, 8, 3], numClasses: 5, seed: 4 });
    const opt = createOptimizer({ kind: 'nag', momentum: 0.9 }, 0.05);
    const dp = await dataParallel({ model, optimizer: opt, workers: 2, decayVariables: splitDecayVariables(model, true).decay, weightDecay: 1e-4 });
    const b = batchAt(0, 16);
    const losses: number[] = [];
    for (let s = 0; s < 8; s++) losses.push(await dp.step({ images: b.images, labels: b.labels }));
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(0.7 * losses[0]!);
    // Until the next sync the worker holds the weights it trained the last step with (one update behind).
    const stale = await dp.replicaWeights(1);
    expect(stale).not.toEqual(values(model));
    await dp.syncWeights();
    const main = await dp.replicaWeights(0);
    expect(main).toEqual(values(model));
    expect(await dp.replicaWeights(1)).toEqual(main);
    // BN moving statistics included: replica 0's, trained by its own shard.
    const moving = model.weights.findIndex((w) => w.name.includes('moving_mean'));
    expect(moving).toBeGreaterThanOrEqual(0);
    expect(Array.from(main[moving]!).some((v) => v !== 0)).toBe(true);
    tf.dispose(b);
    model.dispose();
  });

  it('keeps tf.memory().numTensors constant on the main thread across steps', async () => {
    const model = convNet();
    const opt = createOptimizer({ kind: 'nag', momentum: 0.9 }, 0.1);
    const dp = await dataParallel({ model, optimizer: opt, workers: 2, loss: { distillation: { temperature: 2, form: 'weighted', hardWeight: 0.5, softTerm: 'cross-entropy' } }, decayVariables: splitDecayVariables(model, true).decay, weightDecay: 1e-4 });
    const b = batchAt(1, 7);
    await expectNoLeak(() => dp.step({ images: b.images, labels: b.labels }, b.teacher), 4);
    tf.dispose(b);
    model.dispose();
  });

  it("a worker's failure rejects the step naming the worker and the cause; the step stays failed", async () => {
    const model = convNet();
    const transport = faultyTransport();
    const dp = await dataParallel({ model, optimizer: createOptimizer({ kind: 'sgd', momentum: 0 }, 0.1), workers: 3, transport });
    const b = batchAt(2, 9);
    expect(Number.isFinite(await dp.step(b))).toBe(true);
    transport.arm(2);
    await expect(dp.step(b)).rejects.toThrow(/data-parallel worker 2 \(of 2\) failed: replica 2: the shard's images hold 575 values but their shape \[3, 8, 8, 3\] needs 576/);
    await expect(dp.step(b)).rejects.toThrow(/data-parallel worker 2/);
    tf.dispose(b);
    model.dispose();
  });

  it("a replica whose convolutions report another precision than this thread's is refused at start-up, naming both", async () => {
    // A replica without the bf16 kernels (or another build of them) would compute a different step: here the
    // transport rewrites replica 1's ready message as if it ran bfloat16 while this thread runs float32.
    const inner = workerThreadsTransport();
    const lying: DataParallelTransport = {
      kind: inner.kind,
      prepare: inner.prepare!,
      spawn(init, listener) {
        expect(init.precision).toBe('float32');
        return inner.spawn(init, { ...listener, message: (msg) => listener.message(msg.type === 'ready' ? { ...msg, precision: 'bfloat16' } : msg) });
      },
    };
    const model = convNet();
    await expect(dataParallel({ model, optimizer: createOptimizer({ kind: 'sgd', momentum: 0 }, 0.1), workers: 2, transport: lying })).rejects.toThrow(
      /data-parallel worker 1 \(of 1\) failed: its convolutions run at precision 'bfloat16', this thread's at 'float32'/,
    );
    model.dispose();
  });

  it('refuses a batch smaller than the replica count, and a worker failure lets the process exit (built package)', async () => {
    const model = convNet();
    const dp = await dataParallel({ model, optimizer: createOptimizer({ kind: 'sgd', momentum: 0 }, 0.1), workers: 3 });
    const b = batchAt(0, 2);
    await expect(dp.step(b)).rejects.toThrow(/a batch of 2 images cannot be split over 3 replicas; use a batch of at least 3/);
    tf.dispose(b);
    model.dispose();

    // A process that never calls dispose(): it can only exit if the failure terminated the workers.
    // (--input-type=module -e resolves packages from cwd, the trainer's folder.)
    const script = `import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@bag-of-tricks/backend';
import { createDataParallelStep, createOptimizer, workerThreadsTransport } from ${JSON.stringify(pathToFileURL(join(dist, 'index.js')).href)};
await initBackend('wasm', { log: () => {} });
const input = tfl.input({ shape: [4] });
const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 3 }).apply(input) });
// A transport that sends replica 1 a shard one image value short (the replica's own check fails).
const inner = workerThreadsTransport();
const transport = { ...inner, spawn(init, listener) {
  const h = inner.spawn(init, listener);
  return { terminate: () => h.terminate(), postMessage(msg, transfer) {
    if (msg.type !== 'step') return h.postMessage(msg, transfer);
    const images = msg.images.slice(0, -1);
    h.postMessage({ ...msg, images }, [images.buffer]);
  } };
} };
const dp = await createDataParallelStep({ model, optimizer: createOptimizer({ kind: 'sgd', momentum: 0 }, 0.1), workers: 2, transport });
try {
  await dp.step({ images: tf.ones([4, 4]), labels: tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 3), 'float32') });
  console.log('no error');
} catch (err) {
  console.log('caught: ' + err.message);
}
`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000, cwd: join(dist, '..') });
    expect(r.error, 'the process did not exit by itself: a worker is still running').toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/caught: data-parallel worker 1 \(of 1\) failed: replica 1: the shard's images hold 7 values/);
  });
});

describe('train() with workers: 2 (data parallel, wasm)', () => {
  it('a run stopped at step k and resumed continues on the uninterrupted data-parallel curve', async () => {
    const config = (out: string) => tinyConfig({ out, workers: 2, mixup: { alpha: 0.2 }, checkpoint: { every: 3, keep: 2 } });
    const before = tf.memory().numTensors;
    const logs: string[] = [];
    const a = await train(config(tempOut('dp-a')), { ...quiet, log: (m) => void logs.push(m), stopAfterStep: 8 });
    expect(logs.join('\n')).toMatch(/data parallel: 2 replicas \(this thread \+ 1 worker_threads\), each single-threaded wasm/);
    a.model.dispose();
    const lossA = a.history.steps.map((s) => s.loss);
    expect(lossA).toHaveLength(8);
    expect(lossA.every(Number.isFinite)).toBe(true);
    const outB = tempOut('dp-b');
    (await train(config(outB), { ...quiet, stopAfterStep: 5 })).model.dispose();
    const resumed = await train(config(outB), { ...quiet, resume: true, stopAfterStep: 8 });
    resumed.model.dispose();
    const lossB = resumed.history.steps.map((s) => s.loss);
    expect(lossB).toHaveLength(8);
    for (let i = 0; i < 8; i++) expect(Math.abs(lossB[i]! - lossA[i]!), `step ${i + 1}`).toBeLessThan(1e-5);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('data parallel and the native convolution pool', () => {
  it('gives the process-wide native pool cores / replicas threads while the replicas live, then restores it', async () => {
    const nk = await import('@bag-of-tricks/native-kernels');
    // The addon is built by `turbo run build` (npm test); on a machine without a compiler it is absent
    // and the trainer leaves the pool alone, which this test then checks instead.
    if (!nk.nativeKernelsAvailable()) {
      const dp = await dataParallel({ model: convNet(), optimizer: tf.train.sgd(0.1), workers: 2 });
      await expect(dp.step(batchAt(0, 4))).resolves.toBeGreaterThan(0);
      return;
    }
    const saved = process.env.BOT_NATIVE_THREADS;
    delete process.env.BOT_NATIVE_THREADS;
    try {
      nk.setNativeThreads(4);
      const dp = await dataParallel({ model: convNet(), optimizer: tf.train.sgd(0.1), workers: 2 });
      const cores = (await import('node:os')).availableParallelism();
      expect(nk.getNativeThreads()).toBe(Math.max(1, Math.floor(cores / 2)));
      await dp.dispose();
      expect(nk.getNativeThreads()).toBe(4);
      // A user's BOT_NATIVE_THREADS is their choice: left alone.
      process.env.BOT_NATIVE_THREADS = '3';
      nk.setNativeThreads(3);
      const dp2 = await dataParallel({ model: convNet(), optimizer: tf.train.sgd(0.1), workers: 2 });
      expect(nk.getNativeThreads()).toBe(3);
      await dp2.dispose();
    } finally {
      if (saved === undefined) delete process.env.BOT_NATIVE_THREADS;
      else process.env.BOT_NATIVE_THREADS = saved;
    }
  });
});
