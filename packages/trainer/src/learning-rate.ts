import { linearScaledLr, warmupCosine, warmupStepDecay, type SerializableSchedule } from '@bag-of-tricks/schedules';
import type { TrainConfig } from './config';

/** The peak learning rate: baseLr · batchSize / 256 with linear scaling (He et al. §3.1), else baseLr. */
export function peakLearningRate(config: Pick<TrainConfig, 'baseLr' | 'batchSize' | 'linearScaling'>): number {
  return config.linearScaling ? linearScaledLr(config.baseLr, config.batchSize) : config.baseLr;
}

/** The per-iteration schedule of a run: warmup (if any) then cosine or step decay; a pure function of the step. */
export function learningRateSchedule(
  config: Pick<TrainConfig, 'baseLr' | 'batchSize' | 'linearScaling' | 'warmupEpochs' | 'schedule' | 'epochs'>,
  stepsPerEpoch: number,
): SerializableSchedule {
  const base = peakLearningRate(config);
  const { warmupEpochs, schedule } = config;
  return schedule.kind === 'cosine'
    ? warmupCosine({ base, floor: schedule.floor, warmupEpochs, epochs: config.epochs, stepsPerEpoch })
    : warmupStepDecay({ base, milestonesEpochs: schedule.milestones, gamma: schedule.gamma, warmupEpochs, stepsPerEpoch });
}
