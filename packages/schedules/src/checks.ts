/** Throws unless `step` is a non-negative integer: the caller owns the step counter, counted from 0. */
export function checkStep(step: number, where: string): void {
  if (!Number.isInteger(step) || step < 0) {
    throw new RangeError(`${where}: step must be a non-negative integer (0 is the first optimiser step), got ${step}.`);
  }
}

/** Throws unless `value` is a finite number >= 0 (a learning rate). */
export function checkRate(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a finite number >= 0, got ${String(value)}.`);
  }
}

/** Throws unless `value` is a finite number > 0. */
export function checkPositive(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${name} must be a finite number > 0, got ${String(value)}.`);
  }
}

/** Throws unless `value` is an integer >= `min`. */
export function checkInteger(value: unknown, name: string, min: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer >= ${min}, got ${String(value)}.`);
  }
}
