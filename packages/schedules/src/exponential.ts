import { checkPositive, checkRate, checkStep } from './checks';
import { type SerializableSchedule, withJSON } from './serializable';

export interface ExponentialOptions {
  /** Rate at step 0. */
  base: number;
  /** Factor per step (e.g. `0.97 ** (1 / stepsPerEpoch)` for 0.97 per epoch). */
  gamma: number;
}

/** `base * gamma^step`. */
export function exponential({ base, gamma }: ExponentialOptions): SerializableSchedule {
  checkRate(base, 'exponential: base');
  checkPositive(gamma, 'exponential: gamma');
  return withJSON(
    (step) => {
      checkStep(step, 'exponential');
      return base * gamma ** step;
    },
    () => ({ kind: 'exponential', base, gamma }),
  );
}
