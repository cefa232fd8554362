import { DEFAULTS } from './defaults';
import { checkInteger, checkRate, checkStep } from './checks';
import { type SerializableSchedule, withJSON } from './serializable';

export interface LinearWarmupOptions {
  /** Length of the warmup in steps. */
  steps: number;
  /** Where the line starts, at the virtual step -1 before training (default 0). */
  from?: number;
  /** The peak, reached exactly on the last warmup step `steps - 1`. */
  to: number;
}

/** A linear warmup that also records its length, so `warmupThen` can start the next schedule after it. */
export type LinearWarmupSchedule = SerializableSchedule & { readonly steps: number };

/**
 * Linear warmup, per step: `lr_t = from + (to - from) (t + 1) / steps` for t = 0 .. steps - 1.
 * The last warmup step is exactly `to` (the peak), and no update is spent at `lr = from = 0`:
 * the first step already takes `to / steps`. Steps past the end hold `to`.
 */
export function linearWarmup({ steps, from = DEFAULTS.warmup.from, to }: LinearWarmupOptions): LinearWarmupSchedule {
  checkInteger(steps, 'linearWarmup: steps', 1);
  checkRate(from, 'linearWarmup: from');
  checkRate(to, 'linearWarmup: to');
  const schedule = withJSON(
    (step) => {
      checkStep(step, 'linearWarmup');
      if (step >= steps - 1) return to;
      return from + ((to - from) * (step + 1)) / steps;
    },
    () => ({ kind: 'linearWarmup', steps, from, to }),
  );
  Object.defineProperty(schedule, 'steps', { value: steps, enumerable: true });
  return schedule as LinearWarmupSchedule;
}
