import * as tf from '@tensorflow/tfjs-core';
import type { Teacher } from './teacher';

/**
 * Teacher logits computed once per sample and reused every epoch (the paper's offline variant; only for
 * runs without mixup/cutmix, whose mixed images the teacher must see online).
 *
 * Which view is cached: the images you pass to {@link cacheTeacherLogits} — the trainer passes the
 * eval-pipeline (un-augmented) view of each training sample. So the soft targets ignore per-epoch
 * augmentation (crop, flip, jitter); use the online teacher when that matters.
 */
export interface CachedTeacherLogits {
  /** Logits [numSamples, K], owned by this cache. */
  readonly logits: tf.Tensor2D;
  /** Logits for the given sample indices, [indices.length, K] (a new tensor; dispose it or call inside tidy). */
  gather(indices: ArrayLike<number>): tf.Tensor2D;
  dispose(): void;
}

/**
 * Runs `teacher` over `images` (or over batches from `getBatch`) in inference mode and keeps the logits.
 * `images` is either a tensor [N, H, W, C] or a function returning the view of samples [start, end).
 */
export function cacheTeacherLogits(
  teacher: Teacher,
  images: tf.Tensor4D | ((start: number, end: number) => tf.Tensor4D),
  { numSamples, batchSize = 256 }: { numSamples?: number; batchSize?: number } = {},
): CachedTeacherLogits {
  const n = typeof images === 'function' ? numSamples : images.shape[0];
  if (n === undefined || !Number.isInteger(n) || n <= 0) {
    throw new RangeError('cacheTeacherLogits: pass numSamples (> 0) when images is a function.');
  }
  const chunks: tf.Tensor2D[] = [];
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize);
    chunks.push(
      tf.tidy(() => {
        const x = typeof images === 'function' ? images(start, end) : tf.slice(images, [start, 0, 0, 0], [end - start, -1, -1, -1]);
        return teacher.logits(x);
      }),
    );
  }
  const logits = chunks.length === 1 ? (chunks[0] as tf.Tensor2D) : tf.concat(chunks, 0);
  if (chunks.length > 1) tf.dispose(chunks);
  return {
    logits,
    gather: (indices) =>
      tf.tidy(() => {
        for (let i = 0; i < indices.length; i++) {
          const v = indices[i] as number;
          if (!Number.isInteger(v) || v < 0 || v >= n) {
            throw new RangeError(`CachedTeacherLogits.gather: index ${v} is outside [0, ${n - 1}].`);
          }
        }
        return tf.gather(logits, tf.tensor1d(Array.from(indices), 'int32'));
      }),
    dispose: () => logits.dispose(),
  };
}
