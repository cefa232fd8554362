// One training-step measurement in its own process (the wasm thread count is fixed per process).
// Prints one JSON line. Used by scripts/bench.mjs; runnable alone:
//   node scripts/bench/train-step.mjs --model resnet20 --size 32 --batch 64 --backend wasm --threads 2
// --profile: also time every kernel of one warm step (tf.profile) and report the top ones.
// --dp N: the same step data-parallel over N replicas (this thread + N-1 worker_threads, each a
//   single-threaded backend; @bag-of-tricks/trainer's createDataParallelStep, built package):
//   node scripts/bench/train-step.mjs --model resnet20 --size 32 --batch 64 --dp 2
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients as a side effect
import { initBackend, wasmThreadsInUse } from '@bag-of-tricks/backend';
import { createResNet } from '@bag-of-tricks/resnet-variants';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  return typeof fallback === 'number' ? Number(v) : v;
};
const model = arg('model', 'resnet20');
const size = arg('size', 32);
const batch = arg('batch', 64);
const classes = arg('classes', 10);
const backendWanted = arg('backend', 'wasm');
const threads = arg('threads', 1);
const seconds = arg('seconds', 6);
const minSteps = arg('min-steps', 3);
const maxSteps = arg('max-steps', 1000);
const profile = process.argv.includes('--profile');
const dpWorkers = arg('dp', 0);
const precision = arg('precision', 'float32'); // 'bfloat16': native conv GEMMs on bf16 operands (initBackend's precision)
if (dpWorkers && (threads > 1 || profile)) throw new Error('--dp runs single-threaded replicas: drop --threads and --profile.');

// initBackend's log says which backend and whether the native convolutions are on: kept in the JSON.
const backendLog = [];
const backend = await initBackend(backendWanted, {
  log: (m) => backendLog.push(m),
  wasmThreads: backendWanted === 'wasm' ? threads : undefined,
  ...(precision !== 'float32' ? { precision } : {}),
});
const nativeLine = backendLog.find((m) => /native/i.test(m));
const threadsInUse = backend === 'wasm' ? await wasmThreadsInUse() : null;

const net = createResNet(model, { inputShape: [size, size, 3], numClasses: classes, seed: 7 });
const optimizer = tf.train.momentum(0.1, 0.9, true);
const x = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 11);
const labels = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 7) % classes), 'int32'), classes);

// Data parallel: the trainer's loss (cross-entropy on the one-hot targets, as softmaxCrossEntropy) and
// update, the batch split over the replicas; no weight decay, as below.
let dp;
const labelsFloat = tf.cast(labels, 'float32');
if (dpWorkers > 0) {
  const { createDataParallelStep } = await import('@bag-of-tricks/trainer');
  dp = await createDataParallelStep({ model: net, optimizer, workers: dpWorkers });
}

/** forward + backward + Nesterov momentum update; returns the loss. */
async function step() {
  if (dp) return dp.step({ images: x, labels: labelsFloat });
  return localStep();
}

// The trainer's update (applyGradientsWithDecay: the fused native momentum update where the native kernels
// are on, tfjs's ops elsewhere or under BOT_NATIVE_OPTIMIZER=never), as the CLI and the dp step run it.
const { applyGradientsWithDecay } = await import('@bag-of-tricks/trainer');
const trainable = net.trainableWeights.map((w) => w.read());
function localStep() {
  return tf.tidy(() => {
    const { value, grads } = optimizer.computeGradients(() => tf.losses.softmaxCrossEntropy(labels, net.apply(x, { training: true })), trainable);
    applyGradientsWithDecay(optimizer, grads, [], 0);
    return value.dataSync()[0];
  });
}

const t0 = performance.now();
const firstLoss = await step(); // builds kernels, warms caches; also the numerics probe
const firstMs = performance.now() - t0;
const secondLoss = maxSteps > 0 ? await step() : undefined;
const times = [];
const cpuStart = process.cpuUsage(); // all threads of the process, worker_threads included
const start = performance.now();
while (times.length < maxSteps && (times.length < minSteps || performance.now() - start < seconds * 1000)) {
  const s = performance.now();
  await step();
  times.push(performance.now() - s);
}
const cpuLoop = process.cpuUsage(cpuStart);
const cpuMsPerStep = times.length ? (cpuLoop.user + cpuLoop.system) / 1000 / times.length : undefined;
times.sort((a, b) => a - b);
const msPerStep = times.length ? times[Math.floor(times.length / 2)] : firstMs;

let kernelProfile;
if (profile) {
  const wall0 = performance.now();
  const info = await tf.profile(() => {
    localStep();
  });
  const wallMs = performance.now() - wall0;
  const byName = new Map();
  const byShape = new Map();
  for (const k of info.kernels) {
    // `<op>__op` entries wrap the kernels of a custom-gradient op: counting them would count twice.
    if (k.name.endsWith('__op')) continue;
    const ms = Number(await k.kernelTimeMs) || 0;
    const a = byName.get(k.name) ?? { kernel: k.name, ms: 0, calls: 0 };
    a.ms += ms;
    a.calls += 1;
    byName.set(k.name, a);
    const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
    const b = byShape.get(key) ?? { kernel: k.name, inputShapes: k.inputShapes, ms: 0, calls: 0 };
    b.ms += ms;
    b.calls += 1;
    byShape.set(key, b);
  }
  const kernelMs = [...byName.values()].reduce((s, k) => s + k.ms, 0);
  const round = (k) => ({ ...k, ms: Number(k.ms.toFixed(2)), share: Number((k.ms / kernelMs).toFixed(4)) });
  kernelProfile = {
    note: 'one warm step under tf.profile (wasm kernels are synchronous, so kernelTimeMs is wall time per kernel); profiling adds overhead',
    stepWallMs: wallMs,
    kernelMs,
    kernelCalls: info.kernels.length,
    byKernel: [...byName.values()].sort((a, b) => b.ms - a.ms).map(round),
    topCalls: [...byShape.values()].sort((a, b) => b.ms - a.ms).slice(0, 25).map(round),
  };
}

await dp?.dispose();
// Worker threads are threads of this process: resourceUsage covers their CPU time and memory too.
const usage = process.resourceUsage();
console.log(
  JSON.stringify({
    // Data-parallel rows get their own engine name (cores used = replicas), so 1-thread rows stay unambiguous.
    engine: dpWorkers ? `tfjs-${backend}-dp` : `tfjs-${backend}`,
    backend,
    model,
    size,
    batch,
    classes,
    threads: dpWorkers || (threadsInUse ?? 1),
    dp: dpWorkers || undefined,
    native: nativeLine ?? null,
    precision: backendLog.find((m) => /precision: /.test(m))?.match(/precision: (\w+)/)?.[1] ?? 'float32',
    params: net.countParams(),
    firstStepMs: firstMs,
    steps: times.length,
    msPerStep,
    imgPerSec: (batch * 1000) / msPerStep,
    // CPU time per timed step over all threads: the work a step costs, less sensitive to other load than wall time.
    cpuMsPerStep,
    loss: [firstLoss, secondLoss],
    maxRssMB: usage.maxRSS / 1024,
    cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
    numTensors: tf.memory().numTensors,
    profile: kernelProfile,
  }),
);
