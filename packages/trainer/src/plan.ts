import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  compose,
  cutmix,
  evalPipeline,
  evalResizeFor,
  mixup,
  pixelPipeline,
  trainPipeline,
  type EvalPipelineOptions,
  type PixelPipeline,
  type PixelPipelineOptions,
  type TrainPipelineOptions,
} from '@bag-of-tricks/augment';
import { createRng, type Batch, type BatchTransform } from '@bag-of-tricks/core';
import type { Dataset, ImageFolderOptions, InMemoryDataset } from '@bag-of-tricks/data';
import { cacheTeacherLogits, type CachedTeacherLogits, type Teacher } from '@bag-of-tricks/distill';
import { smoothLabels } from '@bag-of-tricks/losses';
import { createResNet, type CreateResNetOptions, type ResNetName } from '@bag-of-tricks/resnet-variants';
import type { SerializableSchedule } from '@bag-of-tricks/schedules';
import { modelFingerprint, type ModelFingerprint } from './checkpoint';
import type { TrainConfig } from './config';
import { freezeLayers, scaleBackboneGradients } from './finetune';
import { learningRateSchedule, peakLearningRate } from './learning-rate';
import { resolveEvalPreprocessing, type EvalPreprocessing } from './model-metadata';
import { createOptimizer } from './optimizer';
import { createStepLoss, type StepLossConfig } from './step-loss';
import type { StepLoss } from './train-step';
import { splitDecayVariables, type DecaySplit } from './weight-decay';

/**
 * What a config asks of the data, decided before anything is read. For an image folder the dataset crops
 * (random-resized for train, resize + centre crop for eval) and the loader's fused per-image pass flips,
 * jitters, lights and normalises (and, in 'bilinear' mode, resizes the crop); for in-memory data (embedded,
 * idx) the whole tensor pipeline runs as the batch transform (see {@link plan}'s `trainTransform`).
 */
export interface DataPlan {
  /** `imageFolderDataset` options for the train and eval folders (the caller adds file options such as `exclude`). */
  readonly imageFolder: { readonly train: ImageFolderOptions; readonly eval: ImageFolderOptions } | null;
  /** The loader's per-image pass (image folders only). */
  readonly pixel: PixelPipeline | null;
}

/** The dataset and pixel-pass options of a config (no files read; Node-free). */
export function planData(config: TrainConfig): DataPlan {
  const d = config.data;
  if (d.source !== 'image-folder') return { imageFolder: null, pixel: null };
  const channels = d.greyscale ? 1 : 3;
  // config validation has checked these keys (augment's PIXEL_PATH_KEYS): the crop's go to the dataset, the rest to the pixel pass.
  const { scale, ratio, ...photometric } = config.augment as { scale?: [number, number]; ratio?: [number, number] } & Record<string, unknown>;
  return {
    imageFolder: {
      train: { mode: 'train', size: d.size, greyscale: d.greyscale, resample: d.resample, flip: false, ...(scale ? { scale } : {}), ...(ratio ? { ratio } : {}) },
      eval: { mode: 'eval', size: d.size, ...(d.resize ? { resize: d.resize } : {}), greyscale: d.greyscale, resample: d.resample },
    },
    pixel: pixelPipeline({ channels, ...(channels === 1 ? { preset: 'greyscale' } : {}), ...(photometric as PixelPipelineOptions) }),
  };
}

/** The train and eval views of a loaded data set. */
export interface DataViews {
  /** Batch-level train augmentation on tensors (in-memory data sets); null when the loader's pixel pass does it. */
  readonly augment: TrainPipelineOptions | null;
  /** The eval pipeline (an image folder's dataset already crops: then only normalisation is left). */
  readonly eval: EvalPipelineOptions;
  /** The same, resolved to numbers for model.json. */
  readonly preprocessing: EvalPreprocessing;
  /** The model's input [height, width, channels]. */
  readonly inputShape: [number, number, number];
}

/** Views of the training set `train` under `config` (Node-free). */
export function planViews(config: TrainConfig, train: Pick<Dataset, 'height' | 'width' | 'channels'>): DataViews {
  const d = config.data;
  const grey = train.channels === 1;
  if (d.source === 'image-folder') {
    const channels = d.greyscale ? 1 : 3;
    const evalOptions: EvalPipelineOptions = { channels, resize: false, crop: d.size, ...(channels === 1 ? { preset: 'greyscale' } : {}) };
    return {
      augment: null,
      eval: evalOptions,
      preprocessing: resolveEvalPreprocessing(evalOptions, d.resize ?? evalResizeFor(d.size), d.resample),
      inputShape: [train.height, train.width, train.channels],
    };
  }
  const size = train.height;
  const evalOptions: EvalPipelineOptions = { ...(grey ? { preset: 'greyscale' as const } : {}), crop: size, resize: evalResizeFor(size) };
  return {
    augment: { ...(grey ? { preset: 'greyscale' as const } : {}), size },
    eval: evalOptions,
    preprocessing: resolveEvalPreprocessing(evalOptions),
    inputShape: [size, size, train.channels],
  };
}

/** What {@link plan} needs besides the config: the loaded data and the Node-side loaders it cannot do itself. */
export interface PlanInputs {
  readonly train: Dataset;
  readonly test: Dataset;
  readonly stepsPerEpoch: number;
  /** Fine-tuning: loads `init.from` into the fresh model (files: the Node layer's `initFromPretrained`). Left out on resume. */
  readonly initWeights?: (model: LayersModel) => Promise<void>;
  /** Loads `distillation.teacher` (after the student is built, so the student's layer names come first). */
  readonly loadTeacher?: (source: string) => Promise<Teacher>;
  /** Where plan's log lines go (default: nowhere). */
  readonly log?: (message: string) => void;
}

/** Every object a training run needs, built from a validated config: what `train()` hands the loop. */
export interface RunPlan {
  readonly views: DataViews;
  readonly model: LayersModel;
  readonly modelName: string;
  /** The options `createResNet` got (input shape, classes and seed from the data and config, then `model.options`). */
  readonly modelOptions: CreateResNetOptions & { inputShape: [number, number, number]; numClasses: number; seed: number };
  readonly fingerprint: ModelFingerprint;
  readonly schedule: SerializableSchedule;
  readonly peakLearningRate: number;
  readonly optimizer: tf.Optimizer;
  readonly decay: DecaySplit;
  /** Names of the trainable variables left out of weight decay. */
  readonly excludedFromDecay: string[];
  /** The loss, as data (data-parallel replicas rebuild it) and as a function. */
  readonly lossConfig: StepLossConfig;
  readonly loss: StepLoss;
  /** The batch transform of an epoch: train pipeline, label smoothing, then mixup/CutMix until the last `offEpochs`. */
  readonly trainTransform: (epoch: number) => BatchTransform;
  readonly evalTransform: BatchTransform;
  readonly teacher: Teacher | undefined;
  readonly cachedTeacher: CachedTeacherLogits | undefined;
  /** Frees the teacher and its cached logits (the model and optimizer go to the caller). */
  dispose(): void;
}

function formatNames(names: readonly string[], max = 12): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')}, … (${names.length - max} more)`;
}

/**
 * Turns a validated config and its loaded data into every object the run needs: model (fine-tuning
 * weights and freezing included), eval and train transforms, loss, schedule, optimizer, the weight-decay
 * split and the teacher. Node-free: files come in through `inputs` (`initWeights`, `loadTeacher`). The order of
 * construction is part of the result (model variable names, then the teacher's), so it is fixed here.
 */
export async function plan(config: TrainConfig, inputs: PlanInputs): Promise<RunPlan> {
  const log = inputs.log ?? (() => {});
  const views = planViews(config, inputs.train);
  const numClasses = inputs.train.numClasses;
  const evalTransform = evalPipeline(views.eval);

  const modelName = config.model.name;
  const modelOptions = { inputShape: views.inputShape, numClasses, seed: config.seed, ...config.model.options };
  const model: LayersModel = createResNet(modelName as ResNetName, modelOptions);
  // Fine-tuning: weights by name from init.from, then freezing, before the optimiser, weight-decay groups and train step see the trainable variables.
  if (config.init) {
    if (inputs.initWeights) await inputs.initWeights(model);
    const frozen = freezeLayers(model, config.init.freeze);
    if (frozen.length > 0) log(`[trainer] frozen (${JSON.stringify(config.init.freeze)}): ${frozen.length} layers, BatchNorm on moving statistics — ${formatNames(frozen)}`);
  }
  const fingerprint = modelFingerprint(model, `${modelName} ${JSON.stringify(config.model.options)}`);
  const schedule = learningRateSchedule(config, inputs.stepsPerEpoch);
  const optimizer = createOptimizer(config.optimizer, schedule(0));
  const decay = splitDecayVariables(model, config.noBiasDecay);
  const excludedFromDecay = decay.excluded.map((v) => v.name);
  const peak = peakLearningRate(config);
  log(
    `[trainer] ${modelName}: ${model.countParams().toLocaleString('en')} parameters; ${inputs.stepsPerEpoch} steps/epoch x ${config.epochs} epochs; ` +
      `peak lr ${peak.toPrecision(4)}${config.linearScaling ? ` (= ${config.baseLr} x ${config.batchSize}/256)` : ''}`,
  );
  log(
    config.weightDecay === 0
      ? '[trainer] weight decay: off'
      : config.noBiasDecay
        ? `[trainer] weight decay ${config.weightDecay} on ${decay.decay.length} variables; excluded (no bias decay): ${excludedFromDecay.length} — ${formatNames(excludedFromDecay)}`
        : `[trainer] weight decay ${config.weightDecay} on all ${decay.decay.length} trainable variables (noBiasDecay off; none excluded)`,
  );
  if (config.init && config.init.backboneLrScale !== 1) {
    scaleBackboneGradients(optimizer, model, config.init.backboneLrScale);
    log(`[trainer] discriminative lr: backbone at ${config.init.backboneLrScale} x lr, classifier (fc) at lr`);
  }

  // Augmentation: train pipeline, label smoothing (affine, so before or after mixing is the same), then mixup/CutMix.
  const base: BatchTransform | null = views.augment ? trainPipeline({ ...views.augment, ...(config.augment as TrainPipelineOptions) }) : null;
  const smoothing = config.labelSmoothing;
  const smooth: BatchTransform | null = smoothing
    ? (batch) => ({ images: batch.images, labels: smoothLabels(batch.labels, { epsilon: smoothing.epsilon, form: smoothing.form }) })
    : null;
  const mixing = config.mixup ? mixup({ alpha: config.mixup.alpha }) : config.cutmix ? cutmix({ alpha: config.cutmix.alpha }) : null;
  const offEpochs = config.mixup?.offEpochs ?? config.cutmix?.offEpochs ?? 0;
  const withMix = compose(...[base, smooth, mixing].filter((t): t is BatchTransform => t !== null));
  const withoutMix = compose(...[base, smooth].filter((t): t is BatchTransform => t !== null));
  const trainTransform = (epoch: number): BatchTransform => (mixing && epoch < config.epochs - offEpochs ? withMix : withoutMix);

  // One loss definition, as data, so data-parallel workers rebuild the very same function.
  const lossConfig: StepLossConfig = config.distillation ? { distillation: config.distillation } : {};
  const loss = createStepLoss(lossConfig);
  let teacher: Teacher | undefined;
  let cached: CachedTeacherLogits | undefined;
  const dist = config.distillation;
  if (dist) {
    if (!inputs.loadTeacher) throw new Error('distillation.teacher: no teacher loader given to plan (inputs.loadTeacher).');
    teacher = await inputs.loadTeacher(dist.teacher);
    if (dist.cache) {
      const train = inputs.train as InMemoryDataset;
      if (!('images' in train)) throw new Error('distillation.cache needs an in-memory dataset (embedded or idx), not an image folder.');
      const pixels = train.height * train.width * train.channels;
      log(`[trainer] caching teacher logits for ${train.size} training images (eval-pipeline view)…`);
      const t = teacher;
      cached = cacheTeacherLogits(
        t,
        (start, end) =>
          tf.tidy(() => {
            const x = tf.tensor4d(Float32Array.from(train.images.subarray(start * pixels, end * pixels)), [end - start, train.height, train.width, train.channels]);
            const batch: Batch = { images: x, labels: tf.zeros([end - start, numClasses]) };
            return evalTransform(batch, createRng(0)).images;
          }),
        { numSamples: train.size, batchSize: config.evalBatchSize },
      );
    }
  }
  const teacherOut = teacher;
  const cachedOut = cached;
  return {
    views,
    model,
    modelName,
    modelOptions,
    fingerprint,
    schedule,
    peakLearningRate: peak,
    optimizer,
    decay,
    excludedFromDecay,
    lossConfig,
    loss,
    trainTransform,
    evalTransform,
    teacher: teacherOut,
    cachedTeacher: cachedOut,
    dispose() {
      teacherOut?.dispose();
      cachedOut?.dispose();
    },
  };
}
