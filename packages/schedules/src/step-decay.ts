import { DEFAULTS } from './defaults';
import { checkInteger, checkPositive, checkRate, checkStep } from './checks';
import { type SerializableSchedule, withJSON } from './serializable';

export interface StepDecayOptions {
  /** Rate before the first milestone. */
  base: number;
  /** Steps at which the rate is multiplied by `gamma`: strictly increasing integers >= 0. */
  milestones: readonly number[];
  /** Factor applied at each milestone (default 0.1: "divide by 10"). */
  gamma?: number;
}

/**
 * `base * gamma^k`, where k counts the milestones `<= step` (PyTorch's MultiStepLR). The paper's
 * baseline is `base: 0.1`, milestones at epochs 30, 60, 90 (in steps: `epoch * stepsPerEpoch`).
 */
export function stepDecay({ base, milestones, gamma = DEFAULTS.stepDecay.gamma }: StepDecayOptions): SerializableSchedule {
  checkRate(base, 'stepDecay: base');
  checkPositive(gamma, 'stepDecay: gamma');
  if (!Array.isArray(milestones)) throw new TypeError(`stepDecay: milestones must be an array of steps, got ${String(milestones)}.`);
  const ms = [...milestones];
  ms.forEach((m, i) => {
    checkInteger(m, `stepDecay: milestones[${i}]`, 0);
    if (i > 0 && m <= (ms[i - 1] as number)) {
      throw new RangeError(`stepDecay: milestones must be strictly increasing, got [${ms.join(', ')}].`);
    }
  });
  return withJSON(
    (step) => {
      checkStep(step, 'stepDecay');
      let k = 0;
      while (k < ms.length && (ms[k] as number) <= step) k++;
      return base * gamma ** k;
    },
    () => ({ kind: 'stepDecay', base, milestones: ms, gamma }),
  );
}
