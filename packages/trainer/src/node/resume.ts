import type { CheckpointHeader } from '../checkpoint';
import { parseConfig, type TrainConfig } from '../config';
import { learningRateSchedule } from '../learning-rate';
import type { LoopPosition } from '../loop';

/** A checkpoint header as train() writes it: the loop position's extra fields ride along. */
export type TrainerCheckpointHeader = CheckpointHeader & {
  readonly epochLossSum?: number;
  readonly epochLossCount?: number;
  readonly scheduleOffset?: number;
};

/** Where a resumed run starts, and what it tells the user about config changes. */
export interface ResumePlan {
  readonly position: LoopPosition;
  /** One line per change that moves the run off the checkpoint's curve (empty when there is none). */
  readonly notes: readonly string[];
}

/** Fields whose change only re-shapes the learning-rate schedule: the run continues on the new config's schedule. */
const SCHEDULE_FIELDS = ['epochs', 'baseLr', 'linearScaling', 'warmupEpochs', 'schedule'] as const;
/** Fields that say which samples epoch e visits, in which order: safe to change only at an epoch boundary. */
const ORDER_FIELDS = ['data', 'seed'] as const;
/** Fields that never change the curve. */
const NEUTRAL_FIELDS = ['out', 'backend', 'workers', 'parallel', 'logEvery', 'evalBatchSize', 'checkpoint'];

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const fmt = (x: number): string => x.toPrecision(4);

/**
 * Decides how a run resumes from a checkpoint under the current config, per field (the trainer README's
 * "Resume and faults" table):
 * - batchSize: the schedule is re-derived in samples seen. The checkpoint's place, `batchInEpoch` batches of the
 *   old size into its epoch, becomes the same sample offset in batches of the new size (the epoch's sample order
 *   is a function of (seed, epoch) only), and the schedule is read at `epoch * stepsPerEpoch + batchInEpoch` of
 *   the new size; the step counter keeps counting optimiser steps. An offset that the new size does not divide
 *   is refused, naming the field.
 * - epochs, baseLr, linearScaling, warmupEpochs, schedule: the run continues on the new config's schedule at the
 *   same place (the note gives the lr before and after).
 * - data, seed: refused mid-epoch (the rest of the epoch would repeat or skip samples); allowed at an epoch end.
 * - model and the optimiser kind are checked when the tensors are restored (fingerprint, class).
 * - anything else (augmentation, smoothing, mixup, decay, distillation, data-parallel replicas) is noted.
 * `trainSize` is the number of training samples (the loader's data set); `where` names the checkpoint in errors.
 */
export function planResume(h: TrainerCheckpointHeader, config: TrainConfig, stepsPerEpoch: number, trainSize: number, where: string): ResumePlan {
  // An older checkpoint's config gets today's defaults, so fields added since do not read as changes.
  let old = h.config;
  try {
    old = parseConfig(h.config);
  } catch {
    /* a config this version no longer accepts: compare it as stored */
  }
  const oldStepsPerEpoch = Math.floor(trainSize / old.batchSize);
  const notes: string[] = [];
  const atEpochEnd = h.batchInEpoch === 0 || h.batchInEpoch >= oldStepsPerEpoch;
  const epochsDone = h.epoch + (h.batchInEpoch > 0 ? 1 : 0);
  const refuse = (field: string, why: string): never => {
    throw new Error(`${field}: cannot resume from ${where} with this value: ${why}`);
  };

  if (config.epochs < epochsDone) {
    refuse('epochs', `the checkpoint is ${h.batchInEpoch > 0 ? 'inside' : 'at the end of'} epoch ${epochsDone}, past epochs ${config.epochs}; set epochs to at least ${epochsDone}.`);
  }
  for (const field of ORDER_FIELDS) {
    if (!same(old[field], config[field]) && !atEpochEnd) {
      refuse(
        field,
        `the checkpoint is ${h.batchInEpoch} of ${oldStepsPerEpoch} batches into epoch ${h.epoch + 1}, and ${field} decides which samples the rest ` +
          `of that epoch visits (they would repeat or be skipped). Resume with the checkpoint's ${field} (${JSON.stringify(old[field])}), or from a checkpoint written at an epoch end (checkpoint.every 0).`,
      );
    }
  }

  let batchInEpoch = h.batchInEpoch;
  let scheduleOffset = h.scheduleOffset ?? 0;
  if (old.batchSize !== config.batchSize) {
    if (h.batchInEpoch >= oldStepsPerEpoch) batchInEpoch = stepsPerEpoch; // the epoch's batches are all done
    else {
      const samples = h.batchInEpoch * old.batchSize;
      if (samples % config.batchSize !== 0) {
        refuse(
          'batchSize',
          `the checkpoint is ${samples} samples (${h.batchInEpoch} batches of ${old.batchSize}) into epoch ${h.epoch + 1}, which is not a whole number ` +
            `of batches of ${config.batchSize}, so the rest of the epoch would repeat or skip samples. Resume with batchSize ${old.batchSize}, ` +
            `a batch size that divides ${samples}, or from a checkpoint written at an epoch end (checkpoint.every 0).`,
        );
      }
      batchInEpoch = samples / config.batchSize;
    }
    // The schedule's step is the new batch size's step at the same number of samples seen.
    scheduleOffset = h.epoch * stepsPerEpoch + batchInEpoch - h.step;
    notes.push(
      `batchSize ${old.batchSize} -> ${config.batchSize}: the schedule continues in samples seen, at epoch ${h.epoch + 1} batch ${batchInEpoch} of ${stepsPerEpoch} ` +
        `(schedule step ${h.step + scheduleOffset} of the new size; optimiser steps keep counting from ${h.step})`,
    );
  }

  const position: LoopPosition = {
    step: h.step,
    epoch: h.epoch,
    batchInEpoch,
    epochLossSum: h.epochLossSum ?? 0,
    epochLossCount: h.epochLossCount ?? 0,
    scheduleOffset,
  };

  const scheduleChanged = SCHEDULE_FIELDS.filter((f) => !same(old[f], config[f]));
  if (scheduleChanged.length > 0 || old.batchSize !== config.batchSize) {
    const before = learningRateSchedule(old, oldStepsPerEpoch)(h.step + (h.scheduleOffset ?? 0));
    const after = learningRateSchedule(config, stepsPerEpoch)(h.step + scheduleOffset);
    const fields = [...(old.batchSize !== config.batchSize ? ['batchSize'] : []), ...scheduleChanged];
    notes.push(`${fields.join(', ')} changed: the run continues on this config's schedule; lr at the next step ${fmt(before)} (checkpoint's config) -> ${fmt(after)}`);
  }
  for (const field of ORDER_FIELDS) if (!same(old[field], config[field])) notes.push(`${field} changed at an epoch end: the next epochs visit the samples in the new order`);

  const handled = new Set<string>([...SCHEDULE_FIELDS, ...ORDER_FIELDS, ...NEUTRAL_FIELDS, 'batchSize']);
  const other = Object.keys({ ...old, ...config }).filter((k) => !handled.has(k) && !same((old as Record<string, unknown>)[k], (config as Record<string, unknown>)[k]));
  // Data-parallel replicas normalise BN over their shard, so the replica count shapes the curve.
  const replicas = (c: { workers?: number; parallel?: string }) => (c.parallel === 'threads' ? 1 : (c.workers ?? 1));
  if (replicas(old) !== replicas(config)) other.push(`data-parallel replicas (${replicas(old)} -> ${replicas(config)})`);
  if (other.length > 0) notes.push(`${other.join(', ')} changed: the run goes on from the checkpoint's state but will not follow its original curve`);
  return { position, notes };
}
