// The trainer, in a Web Worker so the page stays responsive: the trainer's own Node-free core
// (parseConfig → plan → runTrainingLoop, the data-parallel step over Web Workers), on the embedded subset.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createLoader } from '@bag-of-tricks/data/core';
import { createRng } from '@bag-of-tricks/core';
import { loadTeacher } from '@bag-of-tricks/distill';
import {
  createDataParallelStep,
  evalPipelineFromPreprocessing,
  modelFiles,
  parseConfig,
  parseModelMetadata,
  plan,
  runTrainingLoop,
  selectData,
  webWorkerTransport,
  type DataParallelStep,
  type ModelMetadata,
  type TrainConfigInput,
} from '@bag-of-tricks/trainer/core';
import { startBackend, UnsupportedError, type PageBackend } from './backend';
import { loadEmbedded } from './embedded';
import type { FileBytes, FromTrainer, Settings, TeacherSource, ToTrainer } from './protocol';

const post = (msg: FromTrainer, transfer: Transferable[] = []): void => (self as unknown as Worker).postMessage(msg, transfer);
const log = (message: string): void => post({ type: 'log', message });

let backendStarted: PageBackend | null = null;
let current: { model: tfl.LayersModel; metadata: ModelMetadata } | null = null;
let stopRequested = false;
let busy = false;

class StopRequested extends Error {}

/** The trainer config of the page's switches: one small ResNet on the embedded subset. */
export function configOf(s: Settings): TrainConfigInput {
  const name = `resnet18${s.variant === 'a' ? '' : s.variant}`;
  return {
    // ResNet-18 layout with one block per stage at a quarter of the width (as examples/fashion-mnist);
    // A/B/D keep the 3x3 stride-1 stem for 28x28 images, C is the paper's deep stem (its tweak).
    model: { name, options: { ...(s.variant === 'c' ? {} : { stem: 'small' }), width: 0.25, layers: [1, 1, 1, 1], zeroGamma: s.zeroGamma } },
    data: { source: 'embedded', perClass: s.perClass },
    epochs: s.epochs,
    batchSize: s.batchSize,
    optimizer: { kind: 'nag', momentum: 0.9 },
    baseLr: 0.4,
    linearScaling: true,
    warmupEpochs: s.warmup ? Math.min(1, s.epochs) : 0,
    schedule: s.cosine ? { kind: 'cosine' } : { kind: 'step', milestones: [Math.max(1, Math.round(s.epochs / 2)), Math.max(1, Math.round((3 * s.epochs) / 4))] },
    weightDecay: 1e-4,
    noBiasDecay: s.noBiasDecay,
    ...(s.labelSmoothing ? { labelSmoothing: { epsilon: 0.1, form: 'uniform' } } : {}),
    ...(s.mix === 'mixup' ? { mixup: { alpha: 0.2 } } : s.mix === 'cutmix' ? { cutmix: { alpha: 1 } } : {}),
    ...(s.distillation ? { distillation: { teacher: 'page' } } : {}),
    seed: s.seed,
    workers: s.workers,
    backend: s.backend === 'wasm' || s.backend === 'cpu' ? s.backend : 'auto',
    evalBatchSize: 250,
    logEvery: 1,
  } as TrainConfigInput;
}

function teacherHandler(files: FileBytes[]): tf.io.IOHandler {
  const json = files.find((f) => f.name.endsWith('.json'));
  if (!json) throw new InputError(`Pick the model's model.json together with its weight files (got ${files.map((f) => f.name).join(', ') || 'nothing'}).`);
  const asFiles = files.map((f) => new File([f.bytes], f.name));
  return tf.io.browserFiles([asFiles.find((f) => f.name === json.name)!, ...asFiles.filter((f) => f.name !== json.name)]);
}

class InputError extends Error {}

/** Out of memory on wasm (heap growth fails), in JS (array allocation) or on a GPU: one clear message. */
function classify(err: unknown): FromTrainer {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof UnsupportedError) return { type: 'error', kind: 'unsupported', message };
  if (err instanceof InputError) return { type: 'error', kind: 'input', message };
  if (/out of memory|Cannot enlarge memory|Array buffer allocation failed|memory access out of bounds|Failed to allocate|OOM/i.test(message)) {
    return {
      type: 'error',
      kind: 'memory',
      message: `Out of memory (${message}). Lower the batch size, the number of workers or the images per class, then train again.`,
    };
  }
  return { type: 'error', kind: 'other', message };
}

async function ensureBackend(backend: PageBackend): Promise<void> {
  if (backendStarted === backend) return;
  if (backendStarted !== null) throw new InputError(`This worker already runs the ${backendStarted} backend; reload the page to switch to ${backend}.`);
  await startBackend(backend, log);
  backendStarted = backend;
}

async function trainRun(settings: Settings, teacherSource?: TeacherSource): Promise<void> {
  await ensureBackend(settings.backend);
  const config = parseConfig(configOf(settings), 'the page');
  const embedded = await loadEmbedded();
  const { train, test } = selectData(embedded, { perClass: settings.perClass }, config.seed);
  const trainLoader = createLoader(train, { batchSize: config.batchSize, seed: config.seed, shuffle: true, dropLast: true });
  if (trainLoader.stepsPerEpoch === 0) throw new InputError(`A batch of ${config.batchSize} is larger than the ${train.size} training images: lower the batch size or raise the images per class.`);
  const run = await plan(config, {
    train,
    test,
    stepsPerEpoch: trainLoader.stepsPerEpoch,
    log,
    loadTeacher: async () => {
      if (!teacherSource) throw new InputError('Distillation is on but no teacher is given: enter a model.json URL or pick a model.json and its weight files.');
      return loadTeacher(teacherSource.kind === 'url' ? teacherSource.url : teacherHandler(teacherSource.files));
    },
  });
  const evalLoader = createLoader(test, { batchSize: config.evalBatchSize, seed: config.seed, shuffle: false, transform: run.evalTransform });
  let dp: DataParallelStep | undefined;
  const isolated = (self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  let workers = config.workers;
  if (workers > 1 && !isolated) {
    log(`[page] ${workers} workers asked, but this page is not cross-origin isolated (no SharedArrayBuffer): training on 1 worker.`);
    workers = 1;
  }
  if (workers > 1 && backendStarted !== 'wasm' && backendStarted !== 'cpu') {
    log(`[page] ${workers} workers asked, but replicas run on wasm or cpu; ${backendStarted} trains on 1 worker.`);
    workers = 1;
  }
  const started = performance.now();
  let images = 0;
  stopRequested = false;
  try {
    // workers: 1 is the trainer's single-process step (bitwise createTrainStep), no replica started.
    {
      dp = await createDataParallelStep({
        model: run.model,
        optimizer: run.optimizer,
        workers,
        loss: run.lossConfig,
        decayVariables: run.decay.decay,
        weightDecay: config.weightDecay,
        log,
        transport: webWorkerTransport(() => new Worker(new URL('./replica-worker.ts', import.meta.url), { type: 'module' })),
      });
    }
    const dpStep = dp!;
    post({
      type: 'started',
      info: {
        backend: tf.getBackend(),
        workers,
        transport: workers > 1 ? 'Web Workers + SharedArrayBuffer' : 'this worker',
        stepsPerEpoch: trainLoader.stepsPerEpoch,
        totalSteps: trainLoader.stepsPerEpoch * config.epochs,
        parameters: run.model.countParams(),
        trainImages: train.size,
        testImages: test.size,
      },
    });
    const single = run.loss;
    const result = await runTrainingLoop({
      model: run.model,
      optimizer: run.optimizer,
      schedule: run.schedule,
      loss: single,
      decay: run.decay,
      weightDecay: config.weightDecay,
      epochs: config.epochs,
      trainLoader,
      trainTransform: run.trainTransform,
      evalLoader,
      ...(run.teacher && !run.cachedTeacher ? { teacher: run.teacher } : {}),
      position: { step: 0, epoch: 0, batchInEpoch: 0 },
      history: { steps: [], epochs: [] },
      checkpointEvery: 0,
      logEvery: 1,
      trainStep: async (batch, t) => {
        if (stopRequested) throw new StopRequested();
        return dpStep.step(batch, t);
      },
      hooks: {
        onStep: (record) => {
          images += config.batchSize;
          post({ type: 'step', record });
        },
        onEpoch: (record) => post({ type: 'epoch', record }),
        log,
      },
    });
    const seconds = (performance.now() - started) / 1000;
    const last = result.history.epochs.at(-1);
    const top1 = last?.top1 ?? Number.NaN;
    current?.model.dispose();
    current = {
      model: run.model,
      metadata: {
        format: 'bag-of-tricks-model',
        version: 1,
        classNames: train.classNames ? [...train.classNames] : [],
        preprocessing: run.views.preprocessing,
        model: { name: run.modelName, options: run.modelOptions as unknown as Record<string, unknown> },
        trainConfig: config,
        gitCommit: null,
        step: result.position.step,
        epochs: result.history.epochs.length,
        top1: Number.isFinite(top1) ? top1 : null,
      },
    };
    post({ type: 'done', top1, top5: last?.top5 ?? Number.NaN, seconds, imagesPerSecond: images / seconds, stopped: false });
  } catch (err) {
    if (err instanceof StopRequested) {
      const seconds = (performance.now() - started) / 1000;
      post({ type: 'done', top1: Number.NaN, top5: Number.NaN, seconds, imagesPerSecond: images / seconds, stopped: true });
      run.model.dispose();
      return;
    }
    run.model.dispose();
    throw err;
  } finally {
    await dp?.dispose();
    run.dispose();
    run.optimizer.dispose();
  }
}

async function predict(image: { pixels: Float32Array; width: number; height: number; channels: 1 | 3 }): Promise<void> {
  if (!current) throw new InputError('No model yet: train one or load a model first.');
  const { model, metadata } = current;
  const p = metadata.preprocessing;
  if (image.channels !== p.channels) throw new InputError(`The image has ${image.channels} channels, the model wants ${p.channels}.`);
  const pipeline = evalPipelineFromPreprocessing(p);
  const probs = tf.tidy(() => {
    const x = tf.tensor4d(image.pixels, [1, image.height, image.width, image.channels]);
    const batch = pipeline({ images: x, labels: tf.zeros([1, metadata.classNames.length]) }, createRng(0));
    return tf.softmax(model.predict(batch.images) as tf.Tensor2D);
  });
  const values = Array.from(await probs.data());
  probs.dispose();
  const classes = values.map((probability, i) => ({ name: metadata.classNames[i] ?? String(i), probability })).sort((a, b) => b.probability - a.probability);
  post({ type: 'prediction', classes });
}

async function loadModelFiles(files: FileBytes[]): Promise<void> {
  if (!backendStarted) await ensureBackend('wasm');
  const model = await tfl.loadLayersModel(teacherHandler(files));
  let metadata: ModelMetadata;
  try {
    metadata = parseModelMetadata(model.getUserDefinedMetadata(), files.find((f) => f.name.endsWith('.json'))!.name);
  } catch (err) {
    model.dispose();
    throw new InputError((err as Error).message);
  }
  current?.model.dispose();
  current = { model, metadata };
  post({ type: 'model-loaded', metadata: { classNames: metadata.classNames, model: metadata.model, step: metadata.step, epochs: metadata.epochs, top1: metadata.top1 } });
}

self.onmessage = (event: MessageEvent<ToTrainer>) => {
  const msg = event.data;
  if (msg.type === 'stop') {
    stopRequested = true;
    return;
  }
  const job = async (): Promise<void> => {
    if (msg.type === 'train') {
      if (busy) throw new InputError('A run is in progress; stop it first.');
      busy = true;
      try {
        await trainRun(msg.settings, msg.teacher);
      } finally {
        busy = false;
      }
    } else if (msg.type === 'predict') {
      await predict(msg.image);
    } else if (msg.type === 'download') {
      if (!current) throw new InputError('No model to download yet: train one first.');
      const files = await modelFiles(current.model, current.metadata);
      post({ type: 'files', files });
    } else if (msg.type === 'load-model') {
      await loadModelFiles(msg.files);
    }
  };
  job().catch((err: unknown) => post(classify(err)));
};
post({ type: 'log', message: `[page] trainer worker up (crossOriginIsolated: ${(self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated === true})` });
