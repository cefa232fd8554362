import { distillationLoss } from '@bag-of-tricks/distill';
import { softTargetCrossEntropy } from '@bag-of-tricks/losses';
import type { TrainConfig } from './config';
import type { StepLoss } from './train-step';

/**
 * What defines the training loss, as plain data (so a data-parallel worker can rebuild the very same
 * function): the config's `distillation` block, or nothing for soft-target cross-entropy. Label
 * smoothing and mixup/CutMix live in the targets (applied by the augmentation), not here.
 */
export interface StepLossConfig {
  distillation?: Pick<NonNullable<TrainConfig['distillation']>, 'temperature' | 'form' | 'hardWeight' | 'softTerm'> | undefined;
}

/**
 * The trainer's loss: cross-entropy against (possibly soft) targets, or under distillation the
 * teacher-student loss with that cross-entropy as its hard term. `train()` and every data-parallel
 * replica build their loss here.
 */
export function createStepLoss(config: StepLossConfig = {}): StepLoss {
  const hard = softTargetCrossEntropy({ checkTargets: false });
  const dist = config.distillation;
  if (!dist) return (y, logits) => hard(y, logits);
  const kd = distillationLoss({ temperature: dist.temperature, form: dist.form, hardWeight: dist.hardWeight, softTerm: dist.softTerm, hardLoss: hard });
  return (y, logits, teacherLogits) => {
    if (!teacherLogits) throw new Error('distillation: no teacher logits for this batch.');
    return kd(y, logits, teacherLogits);
  };
}
