import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { initBackend, type BackendName } from '@bag-of-tricks/backend';
import type { Batch } from '@bag-of-tricks/core';
import {
  createLoader,
  imageFolderDataset,
  loadEmbeddedFashionMnist,
  loadIdxDataset,
  registerFileRouter,
  writeFileAtomic,
  type Dataset,
  type InMemoryDataset,
  type Loader,
} from '@bag-of-tricks/data';
import { loadTeacher } from '@bag-of-tricks/distill';
import { restoreCheckpoint, type CheckpointMeta, type History } from '../checkpoint';
import { parseConfig, type TrainConfig, type TrainConfigInput } from '../config';
import { runTrainingLoop, TrainingDivergedError, type LoopPosition } from '../loop';
import { disposeOptimizer } from '../optimizer';
import { plan, planData, type DataPlan } from '../plan';
import { createDataParallelStep, type DataParallelStep } from './data-parallel';
import { checkData, recordSkipped, type DataCheck } from './data-check';
import { describeResourceError } from './resources';
import { planResume } from './resume';
import { appendJsonl, ensureDir, fileError, latestCheckpoint, removeStaleFiles, truncateMetrics, readCheckpointFile, readCheckpointHeader, saveCheckpointFile } from './files';
import type { ModelMetadata } from '../model-metadata';
import { gitCommit, saveModel } from './model-io';
import { initFromPretrained } from './sources';
import { datasetClassNames, selectData } from '../data-selection';
import { createProgress } from './progress';
import { renderReport } from './report';

export interface TrainOptions {
  /** Continue a run: `true` = the newest checkpoint in `out/checkpoints`, or a checkpoint file path. */
  resume?: boolean | string;
  /** Stop once this many steps are done (a checkpoint is written). For tests and time-boxed runs. */
  stopAfterStep?: number;
  /** Show a cli-progress bar (default: when stderr is a TTY). */
  progress?: boolean;
  /** Where log lines go (default console.log); `() => {}` silences them. */
  log?: (message: string) => void;
  /** Write report.html at the end (default true). */
  report?: boolean;
  /** Where the config came from, for error messages. */
  configSource?: string;
}

export interface TrainResult {
  /** Final eval top-1 and top-5 (of the last epoch run; NaN when stopped before an epoch ended). */
  readonly top1: number;
  readonly top5: number;
  readonly steps: number;
  readonly epochs: number;
  readonly stopped: boolean;
  readonly seconds: number;
  readonly backend: BackendName;
  readonly history: History;
  readonly config: TrainConfig;
  readonly out: string;
  readonly metricsPath: string;
  readonly reportPath: string | null;
  readonly lastCheckpoint: string | null;
  /** Names of the trainable variables left out of weight decay. */
  readonly excludedFromDecay: readonly string[];
  /** The trained model (in memory; the caller owns it and disposes it). */
  readonly model: LayersModel;
  /** `<out>/model`: the model as a tfjs LayersModel folder, with class names and eval preprocessing in model.json. */
  readonly modelDir: string;
  /** `<out>/best` (config `export.best`): the epoch with the highest eval top-1; null when off. */
  readonly bestDir: string | null;
}

/** Reads the data a config names (files: Node); what to read and how to crop it comes from the plan. */
function loadData(config: TrainConfig, dataPlan: DataPlan, check: DataCheck | null = null): { train: Dataset; test: Dataset } {
  const d = config.data;
  if (d.source === 'image-folder') {
    if (!dataPlan.imageFolder) throw new Error('data: no image-folder plan for an image-folder config (planData).');
    for (const dir of [d.dir, d.evalDir]) if (!existsSync(dir)) throw new Error(`data: image folder not found: ${resolve(dir)}`);
    const files = { skipCorrupt: d.skipCorrupt ?? false, ...(d.limitInputPixels ? { limitInputPixels: d.limitInputPixels } : {}) };
    return {
      train: imageFolderDataset(d.dir, { ...dataPlan.imageFolder.train, ...files, exclude: check?.exclude.train ?? [] }),
      test: imageFolderDataset(d.evalDir, { ...dataPlan.imageFolder.eval, ...files, exclude: check?.exclude.eval ?? [] }),
    };
  }
  let split: { train: InMemoryDataset; test: InMemoryDataset };
  if (d.source === 'embedded') {
    split = loadEmbeddedFashionMnist();
    if (d.eval) {
      if (!existsSync(d.eval.dir)) throw new Error(`data.eval.dir: folder not found: ${resolve(d.eval.dir)} (for Fashion-MNIST see \`dpkg -L dataset-fashion-mnist\`).`);
      split = { train: split.train, test: loadIdxDataset(d.eval.dir, 'test') };
    }
  } else {
    if (!existsSync(d.dir)) throw new Error(`data.dir: folder not found: ${resolve(d.dir)} (for Fashion-MNIST see \`dpkg -L dataset-fashion-mnist\`).`);
    split = { train: loadIdxDataset(d.dir, 'train'), test: loadIdxDataset(d.dir, 'test') };
  }
  // data.classes / data.perClass: the classes kept (relabelled 0..k-1) and N training images per class.
  return selectData(split, d, config.seed);
}

function teacherPathCheck(teacher: string): void {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(teacher) && !teacher.startsWith('file://')) return;
  const path = resolve(teacher.replace(/^file:\/\//, ''));
  const json = path.endsWith('.json') ? path : join(path, 'model.json');
  if (!existsSync(json)) {
    throw new Error(`distillation.teacher: teacher model not found: ${json} (expected a tfjs LayersModel saved with model.save('file://DIR')).`);
  }
}

function formatNames(names: readonly string[], max = 12): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')}, … (${names.length - max} more)`;
}

/**
 * Trains a ResNet variant as a config says, in Node: picks the backend, loads data, builds model,
 * optimiser, schedule, augmentation and loss, restores a checkpoint if asked, runs the loop with a
 * progress bar, writes metrics.jsonl, checkpoints and report.html under `config.out`.
 */
export async function train(configInput: TrainConfigInput | TrainConfig, options: TrainOptions = {}): Promise<TrainResult> {
  const log = options.log ?? ((m: string) => console.log(m));
  let config = parseConfig(configInput, options.configSource);
  // A checkpoint to resume from: read it first, so its config can stand in for a missing one.
  const resumePath = options.resume === true ? latestCheckpoint(config.out) : options.resume || null;
  if (options.resume === true && !resumePath) throw new Error(`--resume: no checkpoint in ${resolve(config.out, 'checkpoints')}.`);
  // Only the header now (fails early on a missing or foreign file); the tensors are decoded once a backend exists.
  const checkpointHeader = resumePath ? readCheckpointHeader(resumePath) : null;
  // Headers only, before the backend starts: class lists, empty classes, corrupt files, pixel limit, IDX sizes.
  const dataCheck = await checkData(config, log);
  // `workers` spreads the step over that many cores. parallel 'data': that many replicas (this thread and
  // worker_threads), each on its own single-threaded backend and shard of the batch. parallel 'threads':
  // XNNPACK threads in one wasm backend (bitwise the same result as 1 thread); the cpu backend has none.
  const wasmThreads = config.parallel === 'threads' && config.workers > 1 ? config.workers : undefined;
  const backend = await initBackend(config.backend, { log, wasmThreads, precision: config.precision });
  if (wasmThreads && backend === 'cpu') log(`[bag-of-tricks] workers: ${config.workers} (threads) has no effect on the cpu backend (single-threaded).`);
  // An explicit backend 'tensorflow' with data parallelism is a config error; 'auto' (or BOT_BACKEND) landing on it is not.
  let dataParallel = config.parallel === 'data' && config.workers > 1;
  if (dataParallel && backend === 'tensorflow') {
    log(`[trainer] workers: ${config.workers} ignored: data-parallel replicas run on wasm or cpu, and tensorflow (tfjs-node) already uses every core.`);
    dataParallel = false;
  }
  const checkpoint = resumePath && checkpointHeader ? readCheckpointFile(resumePath) : null;
  registerFileRouter();
  const out = resolve(config.out);
  ensureDir(out);
  // A run killed during an atomic write leaves its temp file; no process writes them any more.
  const stale = removeStaleFiles(out);
  if (stale.length > 0) log(`[trainer] removed ${stale.length} temp file(s) left by a killed run: ${stale.join(', ')}`);
  const metricsPath = join(out, 'metrics.jsonl');

  const dataPlan = planData(config);
  const data = loadData(config, dataPlan, dataCheck);
  // Batches carry their rows' dataset indices (cached teacher logits are looked up by them).
  const trainLoader: Loader = createLoader(data.train, { batchSize: config.batchSize, seed: config.seed, shuffle: true, dropLast: true, ...(dataPlan.pixel ? { pixelTransform: dataPlan.pixel } : {}), onEpochEnd: recordSkipped('train', metricsPath, log) });
  const stepsPerEpoch = trainLoader.stepsPerEpoch;
  // How a changed config resumes (or why it cannot), decided from the header before any tensor is restored.
  const resumePlan = checkpointHeader && resumePath ? planResume(checkpointHeader, config, stepsPerEpoch, data.train.size, resolve(resumePath)) : null;
  const numClasses = data.train.numClasses;
  // What inference needs, kept in model.json: class names and the eval pipeline resolved to numbers (the plan's).
  const classNames: string[] = datasetClassNames(data.train);
  const commit = gitCommit();

  // Model, transforms, loss, schedule, optimiser, weight-decay split, teacher: one plan from the config.
  // Files come in here: init.from's weights (a resumed run takes them from its checkpoint instead) and the teacher.
  const init = config.init;
  const run = await plan(config, {
    train: data.train,
    test: data.test,
    stepsPerEpoch,
    log,
    ...(init && !checkpoint
      ? {
          initWeights: async (m: LayersModel) => {
            const r = await initFromPretrained(m, init.from, { newHead: init.newHead === true });
            log(
              `[trainer] init: ${r.loaded.length} weights from ${r.source} (${r.kind})` +
                (r.reinitialised.length ? `; classifier re-initialised (${init.newHead ? 'init.newHead' : `${numClasses} classes here, another number there`}): ${r.reinitialised.join(', ')}` : ''),
            );
          },
        }
      : {}),
    loadTeacher: async (source: string) => {
      teacherPathCheck(source);
      return loadTeacher(source);
    },
  });
  const { model, modelName, modelOptions, fingerprint, schedule, optimizer, decay, excludedFromDecay, loss, lossConfig, trainTransform, teacher } = run;
  const cached = run.cachedTeacher;
  const preprocessing = run.views.preprocessing;
  const evalLoader = createLoader(data.test, { batchSize: config.evalBatchSize, seed: config.seed, shuffle: false, transform: run.evalTransform, onEpochEnd: recordSkipped('eval', metricsPath, log) });
  const metadata = (step: number, epochs: number, top1: number): ModelMetadata => ({
    format: 'bag-of-tricks-model',
    version: 1,
    classNames,
    preprocessing,
    model: { name: modelName, options: modelOptions },
    trainConfig: config,
    gitCommit: commit,
    step,
    epochs,
    top1: Number.isFinite(top1) ? top1 : null,
  });
  const bestDir = config.export.best ? join(out, 'best') : null;

  let position: LoopPosition = { step: 0, epoch: 0, batchInEpoch: 0 };
  let history: History = { steps: [], epochs: [] };
  if (checkpoint && resumePath) {
    await restoreCheckpoint(checkpoint, model, optimizer, fingerprint, resolve(resumePath));
    const h = checkpoint.header;
    position = resumePlan?.position ?? position;
    history = h.history;
    for (const note of resumePlan?.notes ?? []) log(`[trainer] resume: ${note}`);
    log(`[trainer] resumed from ${resolve(resumePath)} at step ${h.step} (epoch ${h.epoch + 1}, batch ${position.batchInEpoch} of ${stepsPerEpoch})`);
    // Lines the stopped or killed run wrote past this checkpoint (and a torn last line) go, so no step appears twice.
    const repair = truncateMetrics(metricsPath, { step: h.step, epochsDone: h.history.epochs.length });
    if (repair.dropped + repair.torn > 0) log(`[trainer] metrics.jsonl: dropped ${repair.dropped} line(s) past step ${h.step}${repair.torn ? ` and ${repair.torn} torn line(s)` : ''}`);
    appendJsonl(metricsPath, { type: 'resume', step: h.step, checkpoint: resolve(resumePath), ...(resumePlan?.notes.length ? { notes: resumePlan.notes } : {}) });
  } else {
    try {
      writeFileSync(metricsPath, '');
    } catch (err) {
      throw fileError(err, metricsPath, 'create the metrics file');
    }
    appendJsonl(metricsPath, { type: 'start', config, backend, stepsPerEpoch, excludedFromDecay });
  }
  if (dataCheck) appendJsonl(metricsPath, dataCheck.record);

  const totalSteps = stepsPerEpoch * config.epochs;
  const progress = createProgress({ enabled: options.progress ?? Boolean(process.stderr.isTTY), total: totalSteps, start: position.step, epochs: config.epochs });
  const started = performance.now();
  let lastCheckpoint: string | null = checkpoint && resumePath ? resolve(resumePath) : null;
  let result;
  // A resumed run's best so far comes from its history (the best/ folder on disk is that epoch's).
  let bestTop1 = Math.max(-1, ...history.epochs.map((e) => e.top1));
  let dp: DataParallelStep | undefined;
  try {
    // Started after a resume's restore; every step copies the main model's weights to the workers first.
    if (dataParallel) {
      dp = await createDataParallelStep({ model, optimizer, workers: config.workers, loss: lossConfig, decayVariables: decay.decay, weightDecay: config.weightDecay, log });
    }
    const dpStep = dp;
    result = await runTrainingLoop({
      model,
      optimizer,
      schedule,
      loss,
      decay,
      weightDecay: config.weightDecay,
      epochs: config.epochs,
      trainLoader,
      trainTransform,
      evalLoader,
      ...(teacher && !cached ? { teacher } : {}),
      ...(cached ? { cachedTeacher: { cache: cached } } : {}),
      position,
      history,
      checkpointEvery: config.checkpoint.every,
      logEvery: config.logEvery,
      ...(options.stopAfterStep !== undefined ? { stopAfterStep: options.stopAfterStep } : {}),
      ...(dpStep ? { trainStep: (batch: Batch, t?: tf.Tensor) => dpStep.step(batch, t) } : {}),
      hooks: {
        onStep: (r) => {
          progress.step(r);
          if (r.step % config.logEvery === 0) appendJsonl(metricsPath, { type: 'step', ...r });
        },
        onEpoch: (r) => {
          appendJsonl(metricsPath, { type: 'epoch', ...r });
          if (bestDir && r.top1 > bestTop1) {
            bestTop1 = r.top1;
            saveModel(bestDir, model, metadata(r.step, r.epoch + 1, r.top1), { weights: config.export.weights });
            appendJsonl(metricsPath, { type: 'best', epoch: r.epoch, step: r.step, top1: r.top1, path: bestDir });
          }
          progress.log(
            `[trainer] epoch ${r.epoch + 1}/${config.epochs}: train loss ${r.trainLoss.toFixed(4)}, eval top-1 ${(100 * r.top1).toFixed(2)}%, ` +
              `top-5 ${(100 * r.top5).toFixed(2)}%, eval loss ${r.evalLoss.toFixed(4)} (${r.seconds.toFixed(1)} s)`,
            log,
          );
        },
        checkpoint: async (pos, hist) => {
          const meta: CheckpointMeta & { epochLossSum: number; epochLossCount: number; scheduleOffset: number; modelMetadata: ModelMetadata } = {
            step: pos.step,
            epoch: pos.epoch,
            batchInEpoch: pos.batchInEpoch,
            epochLossSum: pos.epochLossSum ?? 0,
            epochLossCount: pos.epochLossCount ?? 0,
            scheduleOffset: pos.scheduleOffset ?? 0,
            config,
            fingerprint,
            optimizer: optimizer.getClassName(),
            history: hist,
            // `bag-of-tricks export <checkpoint>` rebuilds the model and writes it with this metadata.
            modelMetadata: metadata(pos.step, hist.epochs.length, hist.epochs.at(-1)?.top1 ?? Number.NaN),
          };
          lastCheckpoint = await saveCheckpointFile(out, meta, model, optimizer, config.checkpoint.keep);
          appendJsonl(metricsPath, { type: 'checkpoint', step: pos.step, path: lastCheckpoint });
          return lastCheckpoint;
        },
      },
    });
  } catch (err) {
    progress.stop();
    if (err instanceof TrainingDivergedError) {
      appendJsonl(metricsPath, { type: 'diverged', step: err.step, reason: err.reason, loss: String(err.loss), lastCheckpoint });
      // The loop knows checkpoints of this session only; a resumed run's starting checkpoint counts too.
      if (err.lastCheckpoint === null && lastCheckpoint) throw new TrainingDivergedError(err.step, err.epoch, err.loss, lastCheckpoint, err.reason);
    }
    // Out of memory on wasm, a full or read-only disk: say which batch, memory or file, and what to do.
    throw describeResourceError(err, { backend, batchSize: config.batchSize, evalBatchSize: config.evalBatchSize, trainSize: data.train.size }) ?? err;
  } finally {
    progress.stop();
    await dp?.dispose();
    teacher?.dispose();
    cached?.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  const lastEpoch = result.history.epochs.at(-1);
  const top1 = lastEpoch?.top1 ?? Number.NaN;
  const top5 = lastEpoch?.top5 ?? Number.NaN;
  let reportPath: string | null = null;
  if (options.report !== false && !result.stopped) {
    reportPath = join(out, 'report.html');
    const html = await renderReport(result.history, {
      title: `bag-of-tricks: ${modelName} on ${config.data.source === 'embedded' ? 'embedded Fashion-MNIST subset' : config.data.dir}`,
      facts: {
        backend,
        model: `${modelName} ${JSON.stringify(config.model.options)} (${model.countParams().toLocaleString('en')} parameters)`,
        steps: `${result.position.step} (${stepsPerEpoch}/epoch, batch ${config.batchSize})`,
        'final top-1': Number.isNaN(top1) ? 'n/a' : `${(100 * top1).toFixed(2)}%`,
        'final top-5': Number.isNaN(top5) ? 'n/a' : `${(100 * top5).toFixed(2)}%`,
        'wall time (this session)': `${seconds.toFixed(1)} s`,
        'excluded from weight decay': excludedFromDecay.length ? formatNames(excludedFromDecay, 40) : 'none',
      },
      config,
    });
    writeFileAtomic(reportPath, html);
  }
  const modelDir = join(out, 'model');
  saveModel(modelDir, model, metadata(result.position.step, result.history.epochs.length, top1), { weights: config.export.weights });
  appendJsonl(metricsPath, { type: 'end', step: result.position.step, stopped: result.stopped, top1, top5, seconds, model: modelDir });
  const summary: TrainResult = {
    top1,
    top5,
    steps: result.position.step,
    epochs: result.history.epochs.length,
    stopped: result.stopped,
    seconds,
    backend,
    history: result.history,
    config,
    out,
    metricsPath,
    reportPath,
    lastCheckpoint: result.lastCheckpoint ?? lastCheckpoint,
    excludedFromDecay,
    model,
    modelDir,
    bestDir,
  };
  disposeOptimizer(optimizer);
  return summary;
}
