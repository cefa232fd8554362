import { DEFAULTS } from './defaults';
import { checkInteger, checkRate, checkStep } from './checks';
import { type SerializableSchedule, withJSON } from './serializable';

export interface CosineOptions {
  /** Rate at step 0 (the peak). */
  base: number;
  /** How many steps the decay lasts: steps 0 .. totalSteps - 1. */
  totalSteps: number;
  /** Rate on the last step, totalSteps - 1 (default 0). */
  floor?: number;
}

/**
 * Cosine decay from `base` at step 0 to exactly `floor` at the last step `t = T - 1`, T = totalSteps:
 *
 *   lr_t = floor + 0.5 (base - floor) (1 + cos(pi t / (T - 1)))
 *
 * This is the paper's formula with its T read as the index of the last step, so a run of T steps
 * ends on the floor instead of one step short of it (timm #1242). Steps past the end hold the
 * floor; with T = 1 the single step is the last one and gets the floor.
 */
export function cosine({ base, totalSteps, floor = DEFAULTS.cosine.floor }: CosineOptions): SerializableSchedule {
  checkRate(base, 'cosine: base');
  checkInteger(totalSteps, 'cosine: totalSteps', 1);
  checkRate(floor, 'cosine: floor');
  if (floor > base) throw new RangeError(`cosine: floor (${floor}) must not exceed base (${base}).`);
  const last = totalSteps - 1;
  return withJSON(
    (step) => {
      checkStep(step, 'cosine');
      if (step >= last) return floor;
      if (step === 0) return base;
      return floor + 0.5 * (base - floor) * (1 + Math.cos((Math.PI * step) / last));
    },
    () => ({ kind: 'cosine', base, totalSteps, floor }),
  );
}
