import { checkRate, checkStep } from './checks';
import { type SerializableSchedule, withJSON } from './serializable';

/** The same rate at every step. */
export function constant(value: number): SerializableSchedule {
  checkRate(value, 'constant: value');
  return withJSON(
    (step) => {
      checkStep(step, 'constant');
      return value;
    },
    () => ({ kind: 'constant', value }),
  );
}
