import type { Schedule } from '@bag-of-tricks/core';
import { checkInteger, checkStep } from './checks';
import type { LinearWarmupSchedule } from './linear-warmup';
import { type LinearWarmupJSON, type SerializableSchedule, toJSON, withJSON } from './serializable';

export interface SequencePart {
  schedule: Schedule;
  /** How many steps this part lasts; required for every part but the last, which runs on forever. */
  steps?: number;
}

/**
 * Runs schedules one after another. Each part sees its own step counter starting at 0, so
 * `sequence([{ schedule: a, steps: 5 }, { schedule: b }])(7) === b(2)`.
 */
export function sequence(parts: readonly SequencePart[]): SerializableSchedule {
  if (!Array.isArray(parts) || parts.length === 0) throw new RangeError('sequence: give at least one part.');
  const offsets: number[] = [];
  let offset = 0;
  parts.forEach((part, i) => {
    if (typeof part?.schedule !== 'function') throw new TypeError(`sequence: parts[${i}].schedule must be a schedule function.`);
    const isLast = i === parts.length - 1;
    if (!isLast || part.steps !== undefined) checkInteger(part.steps, `sequence: parts[${i}].steps`, 1);
    offsets.push(offset);
    offset += part.steps ?? 0;
  });
  const copy = parts.map((p) => ({ ...p }));
  return withJSON(
    (step) => {
      checkStep(step, 'sequence');
      let i = copy.length - 1;
      while (i > 0 && step < (offsets[i] as number)) i--;
      return (copy[i] as SequencePart).schedule(step - (offsets[i] as number));
    },
    () => ({
      kind: 'sequence',
      parts: copy.map((p) => (p.steps === undefined ? { schedule: toJSON(p.schedule) } : { schedule: toJSON(p.schedule), steps: p.steps })),
    }),
  );
}

/** `join` is `sequence` under the name fastai uses. */
export const join = sequence;

/**
 * Warmup, then `schedule` with its own step counter starting after the warmup. The warmup is not
 * counted in the next schedule's length, so for N training steps and W warmup steps,
 * `warmupThen(linearWarmup({ steps: W, to: base }), cosine({ base, totalSteps: N - W }))`
 * peaks at `base` on step W - 1 and W, and reaches the floor exactly on step N - 1, the last one.
 */
export function warmupThen(warmup: LinearWarmupSchedule, schedule: Schedule): SerializableSchedule {
  const warmupJSON = typeof warmup === 'function' ? (warmup as Partial<SerializableSchedule>).toJSON?.() : undefined;
  if (warmupJSON?.kind !== 'linearWarmup') {
    throw new TypeError('warmupThen: the warmup must come from linearWarmup({ steps, from, to }); use sequence for other shapes.');
  }
  if (typeof schedule !== 'function') throw new TypeError('warmupThen: the second argument must be a schedule function.');
  const inner = sequence([{ schedule: warmup, steps: warmup.steps }, { schedule }]);
  return withJSON(
    (step) => {
      checkStep(step, 'warmupThen');
      return inner(step);
    },
    () => ({ kind: 'warmupThen', warmup: warmupJSON as LinearWarmupJSON, then: toJSON(schedule) }),
  );
}
