import type { Schedule } from '@bag-of-tricks/core';

/** The JSON form of a linear warmup. */
export interface LinearWarmupJSON {
  kind: 'linearWarmup';
  steps: number;
  from: number;
  to: number;
}

/** The JSON form of every schedule this package builds; `scheduleFromJSON` turns it back into a function. */
export type ScheduleJSON =
  | { kind: 'constant'; value: number }
  | { kind: 'stepDecay'; base: number; milestones: number[]; gamma: number }
  | { kind: 'exponential'; base: number; gamma: number }
  | { kind: 'cosine'; base: number; totalSteps: number; floor: number }
  | LinearWarmupJSON
  | { kind: 'sequence'; parts: { schedule: ScheduleJSON; steps?: number }[] }
  | { kind: 'warmupThen'; warmup: LinearWarmupJSON; then: ScheduleJSON };

export type ScheduleKind = ScheduleJSON['kind'];

/**
 * A schedule that also knows its JSON form. `JSON.stringify(schedule)` works directly,
 * because the function carries a `toJSON` method.
 */
export type SerializableSchedule = Schedule & { readonly toJSON: () => ScheduleJSON };

/** Attaches the JSON form (computed on demand, so composites of plain functions fail only when serialised). */
export function withJSON(fn: Schedule, json: () => ScheduleJSON): SerializableSchedule {
  Object.defineProperty(fn, 'toJSON', {
    value: () => JSON.parse(JSON.stringify(json())) as ScheduleJSON,
    enumerable: false,
  });
  return fn as SerializableSchedule;
}

/** The JSON form of a schedule built by this package's factories and composers. */
export function toJSON(schedule: Schedule): ScheduleJSON {
  const toJSONMethod = (schedule as Partial<SerializableSchedule>).toJSON;
  if (typeof toJSONMethod !== 'function') {
    throw new TypeError(
      'toJSON: this schedule is a plain function, so it has no JSON form. Build it with the factories of ' +
        '@bag-of-tricks/schedules (constant, stepDecay, exponential, cosine, linearWarmup, sequence, warmupThen, ...).',
    );
  }
  return toJSONMethod.call(schedule);
}
