import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { Batch, BatchTransform, Schedule } from '@bag-of-tricks/core';
import type { Loader } from '@bag-of-tricks/data';
import type { CachedTeacherLogits, Teacher } from '@bag-of-tricks/distill';
import { applyLearningRate } from '@bag-of-tricks/schedules';
import type { EpochRecord, History, StepRecord } from './checkpoint';
import { evaluate } from './evaluate';
import { createTrainStep, type StepLoss } from './train-step';
import type { DecaySplit } from './weight-decay';

/**
 * Thrown when training diverges: the loss of a step is NaN or infinite (`reason: 'loss'`), or after a step's
 * update the weights or optimiser slots hold NaN/Infinity (`reason: 'weights'`). `step` is the 1-based step
 * that diverged, as numbered in metrics.jsonl; `lastCheckpoint` is the newest checkpoint written, which is
 * finite (a checkpoint is written only from a finite state).
 */
export class TrainingDivergedError extends Error {
  constructor(
    readonly step: number,
    readonly epoch: number,
    readonly loss: number,
    readonly lastCheckpoint: string | null,
    readonly reason: 'loss' | 'weights' = 'loss',
  ) {
    super(
      (reason === 'loss'
        ? `Training diverged: the loss is ${loss} at step ${step} (epoch ${epoch + 1}). `
        : `Training diverged: after step ${step} (epoch ${epoch + 1}) the weights or optimizer state hold NaN or Infinity ` +
          `(that step's loss was ${loss}). `) +
        (lastCheckpoint
          ? `Last good checkpoint: ${lastCheckpoint} (resume from it with a lower learning rate or more warmup).`
          : 'No checkpoint was written before this step (lower the learning rate or add warmup).'),
    );
    this.name = 'TrainingDivergedError';
  }
}

/**
 * True when every model weight (BN moving statistics included) and every optimiser slot is finite: the sum
 * of `x * 0` over all of them is NaN when any value is NaN or ±Infinity, else exactly 0; one number read back.
 */
export async function stateIsFinite(model: LayersModel, optimizer: tf.Optimizer): Promise<boolean> {
  const slots = await optimizer.getWeights();
  try {
    const tensors = [...model.weights.map((w) => w.read() as tf.Tensor), ...slots.slice(1).map((s) => s.tensor)].filter((t) => t.dtype === 'float32');
    if (tensors.length === 0) return true;
    // All values in one vector (reshape shares the data; one concat copies it), then one multiply and one sum:
    // a few kernel launches instead of two per tensor.
    const flag = tf.tidy(() => tf.sum(tf.mul(tf.concat(tensors.map((t) => tf.reshape(t, [-1]))), tf.scalar(0))));
    const value = (await flag.data())[0] as number;
    flag.dispose();
    return Number.isFinite(value);
  } finally {
    // getWeights' first entry is a fresh iteration-count scalar; the slots are the optimiser's own variables.
    slots[0]?.tensor.dispose();
  }
}

/** Where a run stands; a checkpoint stores it, `--resume` restores it. */
export interface LoopPosition {
  step: number;
  epoch: number;
  batchInEpoch: number;
  /** Sum and count of the step losses of `epoch` so far, so a resumed epoch reports the same mean. */
  epochLossSum?: number;
  epochLossCount?: number;
  /**
   * The schedule is read at `step + scheduleOffset` (default 0). A run resumed with another batch size keeps
   * counting optimiser steps but re-derives its place on the schedule from the samples seen.
   */
  scheduleOffset?: number;
}

export interface LoopHooks {
  onStep?(record: StepRecord): void;
  onEpoch?(record: EpochRecord): void;
  /** Writes a checkpoint of the current state; returns its path (or an id). */
  checkpoint?(position: LoopPosition, history: History, reason: 'every' | 'epoch' | 'stop' | 'end'): Promise<string>;
  log?(message: string): void;
}

export interface LoopOptions {
  model: LayersModel;
  optimizer: tf.Optimizer;
  schedule: Schedule;
  loss: StepLoss;
  decay: DecaySplit;
  weightDecay: number;
  epochs: number;
  /**
   * Training batches. The loop hands each epoch's `trainTransform` to `trainLoader.epoch(e, { fromBatch, transform })`,
   * so all train-time augmentation runs in the loader on its streams: the order, every draw and so every batch of
   * epoch e are a pure function of (seed, e, position), and a resumed run draws exactly what it would have.
   */
  trainLoader: Loader;
  /** Augmentation for epoch e (the mixup phase switches it off for the last epochs). */
  trainTransform(epoch: number): BatchTransform;
  /** Test batches already through the eval pipeline. */
  evalLoader: Loader;
  teacher?: Teacher;
  /** Cached teacher logits and the sample indices of batch b of epoch e. */
  /**
   * Cached teacher logits, looked up by the dataset indices the loader's batch carries (`Batch.indices`);
   * `indices(epoch, batch)` is only a fallback for loaders that do not set them.
   */
  cachedTeacher?: { cache: CachedTeacherLogits; indices?(epoch: number, batch: number): number[] };
  position: LoopPosition;
  history: History;
  /** Checkpoint every N steps; 0 = at every epoch end. */
  checkpointEvery: number;
  /** Write a step record every N steps. */
  logEvery: number;
  /** Stop (with a checkpoint) once this many steps are done: for tests and time-boxed runs. */
  stopAfterStep?: number;
  hooks?: LoopHooks;
  /**
   * Replaces the single-process step (`createTrainStep` on `model`), e.g. with a data-parallel step:
   * trains on the batch and resolves to its mean loss. The loop disposes the batch after it settles.
   */
  trainStep?: (batch: Batch, teacherLogits?: tf.Tensor) => Promise<number>;
  /** Clock in milliseconds (default performance.now). */
  now?: () => number;
}

export interface LoopResult {
  readonly position: LoopPosition;
  readonly history: History;
  /** True when `stopAfterStep` ended the run early. */
  readonly stopped: boolean;
  readonly lastCheckpoint: string | null;
}

/**
 * The training loop, free of Node APIs so it can run in a browser. Per step: the schedule sets the lr,
 * the loader yields the batch already augmented (the epoch's transform on the loader's stream for that
 * batch), the teacher (if any) runs outside the gradient
 * closure, then one tidy step (forward in training mode, loss, gradients + L2 decay, apply). A resumed run
 * skips the batches of its epoch already done. Evaluates top-1/top-5 after every epoch.
 */
export async function runTrainingLoop(o: LoopOptions): Promise<LoopResult> {
  const now = o.now ?? (() => performance.now());
  const step = createTrainStep({ model: o.model, optimizer: o.optimizer, loss: o.loss, decayVariables: o.decay.decay, weightDecay: o.weightDecay });
  const position = { ...o.position };
  const history = o.history;
  const hooks = o.hooks ?? {};
  let lastCheckpoint: string | null = null;
  const scheduleOffset = position.scheduleOffset ?? 0;
  // The last step whose state was checked finite, and that step's loss and epoch (for the error).
  let checkedStep = -1;
  let lastLoss = Number.NaN;
  let lastEpoch = position.epoch;
  const checkFinite = async (): Promise<void> => {
    if (checkedStep === position.step) return;
    if (!(await stateIsFinite(o.model, o.optimizer))) throw new TrainingDivergedError(position.step, lastEpoch, lastLoss, lastCheckpoint, 'weights');
    checkedStep = position.step;
  };
  const save = async (reason: 'every' | 'epoch' | 'stop' | 'end'): Promise<void> => {
    if (!hooks.checkpoint) return;
    await checkFinite(); // a checkpoint is written only from a finite state
    lastCheckpoint = await hooks.checkpoint({ ...position }, history, reason);
  };

  // A run resumed at (or past) its stop step trains nothing more: --stop-after N means N steps in all.
  if (o.stopAfterStep !== undefined && position.step >= o.stopAfterStep) return { position, history, stopped: true, lastCheckpoint };
  for (let epoch = position.epoch; epoch < o.epochs; epoch++) {
    const transform = o.trainTransform(epoch);
    const epochStart = now();
    const resuming = epoch === position.epoch;
    let lossSum = resuming ? (position.epochLossSum ?? 0) : 0;
    let lossCount = resuming ? (position.epochLossCount ?? 0) : 0;
    // The batches of this epoch done before the checkpoint we resumed from are not read again.
    const fromBatch = resuming ? Math.min(position.batchInEpoch, o.trainLoader.stepsPerEpoch) : 0;
    let batchIndex = fromBatch;
    let lastTime = now();
    for await (const batch of o.trainLoader.epoch(epoch, { fromBatch, transform })) {
      const b = batchIndex++;
      const lr = o.schedule(position.step + scheduleOffset);
      applyLearningRate(o.optimizer, lr);
      const rowIndices = batch.indices;
      let teacherLogits: tf.Tensor | undefined;
      let lossValue: number;
      try {
        if (o.teacher) teacherLogits = o.teacher.logits(batch.images);
        else if (o.cachedTeacher) teacherLogits = o.cachedTeacher.cache.gather(cachedIndices(o.cachedTeacher, rowIndices, epoch, b));
        if (o.trainStep) {
          lossValue = await o.trainStep(batch, teacherLogits);
        } else {
          const lossTensor = step(batch, teacherLogits);
          lossValue = (await lossTensor.data())[0] as number;
          lossTensor.dispose();
        }
      } catch (err) {
        throw tagPhase(err, 'train');
      } finally {
        tf.dispose([batch.images, batch.labels]);
        if (teacherLogits) teacherLogits.dispose();
      }
      if (!Number.isFinite(lossValue)) throw new TrainingDivergedError(position.step + 1, epoch, lossValue, lastCheckpoint);
      position.step++;
      lastLoss = lossValue;
      lastEpoch = epoch;
      position.batchInEpoch = b + 1;
      position.epoch = epoch;
      lossSum += lossValue;
      lossCount++;
      position.epochLossSum = lossSum;
      position.epochLossCount = lossCount;
      const t = now();
      const record: StepRecord = {
        step: position.step,
        epoch,
        loss: lossValue,
        lr,
        imagesPerSecond: (batch.images.shape[0] * 1000) / Math.max(t - lastTime, 1e-3),
      };
      lastTime = t;
      if (position.step % o.logEvery === 0) history.steps.push(record);
      hooks.onStep?.(record);
      // Divergence shows in the weights before (or without) the loss: check them once per logged step.
      if (position.step % o.logEvery === 0) await checkFinite();
      if (o.stopAfterStep !== undefined && position.step >= o.stopAfterStep) {
        await save('stop');
        return { position, history, stopped: true, lastCheckpoint };
      }
      if (o.checkpointEvery > 0 && position.step % o.checkpointEvery === 0) await save('every');
    }
    const result = await evaluate(o.model, o.evalLoader.epoch(0)).catch((err: unknown) => {
      throw tagPhase(err, 'eval');
    });
    const record: EpochRecord = {
      epoch,
      step: position.step,
      trainLoss: lossCount > 0 ? lossSum / lossCount : Number.NaN,
      top1: result.top1,
      top5: result.top5,
      evalLoss: result.loss,
      lr: o.schedule(Math.max(position.step + scheduleOffset - 1, 0)),
      seconds: (now() - epochStart) / 1000,
    };
    history.epochs.push(record);
    hooks.onEpoch?.(record);
    position.epoch = epoch + 1;
    position.batchInEpoch = 0;
    position.epochLossSum = 0;
    position.epochLossCount = 0;
    const last = epoch + 1 === o.epochs;
    if (last) await save('end');
    else if (o.checkpointEvery === 0) await save('epoch');
  }
  return { position, history, stopped: false, lastCheckpoint };
}

/** Marks where an error came from ('train' step or 'eval'), so resource errors can name the batch size at fault. */
function tagPhase(err: unknown, phase: 'train' | 'eval'): unknown {
  if (err !== null && typeof err === 'object' && !('trainingPhase' in err)) (err as { trainingPhase?: string }).trainingPhase = phase;
  return err;
}

function cachedIndices(
  cached: NonNullable<LoopOptions['cachedTeacher']>,
  rowIndices: Int32Array | undefined,
  epoch: number,
  batch: number,
): number[] {
  if (rowIndices) return Array.from(rowIndices);
  if (cached.indices) return cached.indices(epoch, batch);
  throw new Error(
    'cached teacher logits need the dataset index of every row: the train loader\'s batches carry no `indices` ' +
      "(use @bag-of-tricks/data's createLoader, or pass cachedTeacher.indices(epoch, batch)).",
  );
}
