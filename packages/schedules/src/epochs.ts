import { DEFAULTS } from './defaults';
import { checkInteger, checkRate } from './checks';
import { cosine } from './cosine';
import { linearWarmup } from './linear-warmup';
import { warmupThen } from './sequence';
import type { SerializableSchedule } from './serializable';
import { stepDecay } from './step-decay';

/** Steps in `epochs` epochs, rounded to the nearest step (fractional epochs are allowed). */
export function epochsToSteps(epochs: number, stepsPerEpoch: number): number {
  checkRate(epochs, 'epochsToSteps: epochs');
  checkInteger(stepsPerEpoch, 'epochsToSteps: stepsPerEpoch', 1);
  return Math.round(epochs * stepsPerEpoch);
}

export interface WarmupCosineOptions {
  /** Peak rate, reached on the last warmup step (or at step 0 without warmup). */
  base: number;
  /** Rate on the last step of training (default 0). */
  floor?: number;
  /** Warmup length in epochs (default 0: none; the paper uses 5). */
  warmupEpochs?: number;
  /** Length of the whole run in epochs, warmup included. */
  epochs: number;
  stepsPerEpoch: number;
  /** Warmup start (default 0). */
  from?: number;
}

/**
 * The paper's refined schedule, per iteration: linear warmup to `base` over `warmupEpochs`, then
 * cosine decay over the remaining steps, reaching `floor` exactly on the last step of training,
 * `epochs * stepsPerEpoch - 1`.
 */
export function warmupCosine({ base, floor = DEFAULTS.cosine.floor, warmupEpochs = DEFAULTS.warmup.epochs, epochs, stepsPerEpoch, from = DEFAULTS.warmup.from }: WarmupCosineOptions): SerializableSchedule {
  const total = epochsToSteps(epochs, stepsPerEpoch);
  const warm = epochsToSteps(warmupEpochs, stepsPerEpoch);
  if (total - warm < 1) throw new RangeError(`warmupCosine: epochs (${epochs}) must exceed warmupEpochs (${warmupEpochs}) by at least one step.`);
  const decay = cosine({ base, totalSteps: total - warm, floor });
  return warm === 0 ? decay : warmupThen(linearWarmup({ steps: warm, from, to: base }), decay);
}

export interface WarmupStepDecayOptions {
  base: number;
  /** Epochs at which the rate is multiplied by `gamma`, counted from the start of training (paper: 30, 60, 90). */
  milestonesEpochs: readonly number[];
  gamma?: number;
  /** Warmup length in epochs (default 0); milestones must fall after it. */
  warmupEpochs?: number;
  stepsPerEpoch: number;
  from?: number;
}

/** Step decay with milestones in epochs, optionally after a linear warmup (milestones stay absolute). */
export function warmupStepDecay({ base, milestonesEpochs, gamma = DEFAULTS.stepDecay.gamma, warmupEpochs = DEFAULTS.warmup.epochs, stepsPerEpoch, from = DEFAULTS.warmup.from }: WarmupStepDecayOptions): SerializableSchedule {
  const warm = epochsToSteps(warmupEpochs, stepsPerEpoch);
  const milestones = milestonesEpochs.map((e) => epochsToSteps(e, stepsPerEpoch) - warm);
  milestones.forEach((m, i) => {
    if (m < 0) throw new RangeError(`warmupStepDecay: milestone ${milestonesEpochs[i]} epochs falls inside the ${warmupEpochs}-epoch warmup.`);
  });
  const decay = stepDecay({ base, milestones, gamma });
  return warm === 0 ? decay : warmupThen(linearWarmup({ steps: warm, from, to: base }), decay);
}
