import type { Batch, BatchTransform, Rng } from '@bag-of-tricks/core';
import * as tf from '@tensorflow/tfjs-core';
import { checkBatch, tidyBatch } from './checks';
import type { PixelDraw, PixelPassOptions } from './pixel-kernel';

/**
 * One per-image augmentation, defined once for both paths: the tensor path (a batch transform on
 * NHWC tensors) and the fused pixel pass (typed arrays, one image at a time, in the loader). Both
 * take their random numbers from {@link AugmentOp.sample}, so the same rng gives the same images.
 */
export interface AugmentOp<Draw> {
  /** Its name in error messages (e.g. `horizontalFlip`, `colorJitter(hsv)`). */
  readonly name: string;
  /** The channel count its images must have, where it has one. */
  readonly channels?: number;
  /** The options it runs with, defaults filled in. */
  readonly options: object;
  /** Random draws for `n` images, in a fixed order (all of this op's draws for the batch at once). */
  sample(rng: Rng, n: number): Draw[];
  /** Tensor path: NHWC images (0-255 scale, float32), one draw per image. Call inside `tf.tidy`. */
  applyTensor(images: tf.Tensor4D, draws: readonly Draw[]): tf.Tensor4D;
  /** Pixel path: this op's part of one image's fused pass (see `applyPixelDraw`). */
  applyPixels(draw: Draw, into: PixelDraw): void;
  /** Pixel path: the op's fixed settings of the fused pass (normalize's mean and std, jitter's clip). */
  readonly pixelOptions?: Partial<PixelPassOptions>;
}

/** The op as a batch transform: checks the batch, draws for every image, applies, inside `tf.tidy`. */
export function opTransform<Draw>(op: AugmentOp<Draw>): BatchTransform {
  return (batch: Batch, rng: Rng) =>
    tidyBatch(() => {
      checkBatch(batch, op.name, op.channels);
      const draws = op.sample(rng, batch.images.shape[0]);
      return { images: op.applyTensor(batch.images, draws), labels: tf.clone(batch.labels) };
    });
}

/** Draws `n` values with `draw`, one image after the other. */
export function perImage<T>(n: number, draw: () => T): T[] {
  const out: T[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = draw();
  return out;
}

/** `options` over `defaults`, where a key given as `undefined` keeps its default (as destructuring defaults do). */
export function withDefaults<T extends object>(defaults: Required<T>, options: T): Required<T> {
  const out = { ...defaults } as Record<string, unknown>;
  for (const [k, v] of Object.entries(options ?? {})) if (v !== undefined) out[k] = v;
  return out as Required<T>;
}
