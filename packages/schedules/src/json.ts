import type { Schedule } from '@bag-of-tricks/core';
import { constant } from './constant';
import { cosine } from './cosine';
import { exponential } from './exponential';
import { linearWarmup, type LinearWarmupSchedule } from './linear-warmup';
import { sequence, warmupThen } from './sequence';
import type { ScheduleJSON, ScheduleKind, SerializableSchedule } from './serializable';
import { stepDecay } from './step-decay';

/** The fields each kind takes; anything else is refused, so a typo cannot be silently ignored. */
const FIELDS: Record<ScheduleKind, { required: string[]; optional: string[] }> = {
  constant: { required: ['value'], optional: [] },
  stepDecay: { required: ['base', 'milestones'], optional: ['gamma'] },
  exponential: { required: ['base', 'gamma'], optional: [] },
  cosine: { required: ['base', 'totalSteps'], optional: ['floor'] },
  linearWarmup: { required: ['steps', 'to'], optional: ['from'] },
  sequence: { required: ['parts'], optional: [] },
  warmupThen: { required: ['warmup', 'then'], optional: [] },
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function build(json: unknown, path: string): SerializableSchedule {
  if (!isObject(json)) throw new TypeError(`scheduleFromJSON: ${path} must be an object like { kind: 'cosine', ... }, got ${JSON.stringify(json)}.`);
  const kind = json['kind'];
  if (typeof kind !== 'string' || !Object.hasOwn(FIELDS, kind)) {
    throw new TypeError(
      `scheduleFromJSON: ${path}.kind is ${JSON.stringify(kind)}, which is not a schedule kind; known kinds: ${Object.keys(FIELDS).join(', ')}.`,
    );
  }
  const { required, optional } = FIELDS[kind as ScheduleKind];
  for (const key of Object.keys(json)) {
    if (key !== 'kind' && !required.includes(key) && !optional.includes(key)) {
      throw new TypeError(`scheduleFromJSON: ${path} (kind '${kind}') has an unknown field '${key}'; it takes ${[...required, ...optional].join(', ')}.`);
    }
  }
  for (const key of required) {
    if (json[key] === undefined) throw new TypeError(`scheduleFromJSON: ${path} (kind '${kind}') is missing the field '${key}'.`);
  }
  // Children are built first, so an error names the innermost path.
  const children = (): { parts?: { schedule: Schedule; steps?: number }[]; warmup?: SerializableSchedule; then?: Schedule } => {
    if (kind === 'sequence') {
      const parts = json['parts'];
      if (!Array.isArray(parts)) throw new TypeError(`scheduleFromJSON: ${path}.parts must be an array.`);
      return {
        parts: parts.map((p: unknown, i) => {
          const where = `${path}.parts[${i}]`;
          if (!isObject(p)) throw new TypeError(`scheduleFromJSON: ${where} must be { schedule, steps? }.`);
          for (const key of Object.keys(p)) {
            if (key !== 'schedule' && key !== 'steps') throw new TypeError(`scheduleFromJSON: ${where} has an unknown field '${key}'; it takes schedule, steps.`);
          }
          const schedule = build(p['schedule'], `${where}.schedule`);
          return p['steps'] === undefined ? { schedule } : { schedule, steps: p['steps'] as number };
        }),
      };
    }
    if (kind === 'warmupThen') {
      const warmup = build(json['warmup'], `${path}.warmup`);
      if (warmup.toJSON().kind !== 'linearWarmup') throw new TypeError(`scheduleFromJSON: ${path}.warmup must have kind 'linearWarmup'.`);
      return { warmup, then: build(json['then'], `${path}.then`) };
    }
    return {};
  };
  const c = children();
  // Field types are checked by the factories themselves, with the same messages as direct calls.
  const f = (key: string): never => json[key] as never;
  try {
    switch (kind as ScheduleKind) {
      case 'constant':
        return constant(f('value'));
      case 'stepDecay':
        return stepDecay({ base: f('base'), milestones: f('milestones'), gamma: f('gamma') });
      case 'exponential':
        return exponential({ base: f('base'), gamma: f('gamma') });
      case 'cosine':
        return cosine({ base: f('base'), totalSteps: f('totalSteps'), floor: f('floor') });
      case 'linearWarmup':
        return linearWarmup({ steps: f('steps'), from: f('from'), to: f('to') });
      case 'sequence':
        return sequence(c.parts ?? []);
      case 'warmupThen':
        return warmupThen(c.warmup as LinearWarmupSchedule, c.then as Schedule);
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new (error instanceof RangeError ? RangeError : TypeError)(`scheduleFromJSON: at ${path}: ${message}`);
  }
}

/**
 * Rebuilds a schedule from its JSON form (as returned by `toJSON`, or parsed from a config file).
 * Unknown kinds, unknown or missing fields and bad values throw, naming where in the JSON they are.
 */
export function scheduleFromJSON(json: ScheduleJSON | unknown): SerializableSchedule {
  return build(typeof json === 'string' ? JSON.parse(json) : json, 'schedule');
}
