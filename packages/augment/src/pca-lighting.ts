import type { Batch, BatchTransform } from '@bag-of-tricks/core';
import * as tf from '@tensorflow/tfjs-core';
import { checkBatch, tidyBatch } from './checks';

/** AlexNet's ImageNet RGB eigenvalues on the 0-255 scale (as in GluonCV / fb.resnet.torch). */
export const IMAGENET_EIGVAL: readonly number[] = Object.freeze([55.46, 4.794, 1.148]);
/** The matching eigenvectors, one per COLUMN. */
export const IMAGENET_EIGVEC: readonly (readonly number[])[] = Object.freeze([
  Object.freeze([-0.5675, 0.7192, 0.4009]),
  Object.freeze([-0.5808, -0.0045, -0.814]),
  Object.freeze([-0.5836, -0.6948, 0.4203]),
]);

export interface PcaLightingOptions {
  /** Standard deviation of the per-channel alpha ~ N(0, alphaStd) (default 0.1). */
  alphaStd?: number;
  eigval?: readonly number[];
  eigvec?: readonly (readonly number[])[];
}

/** The RGB offset added to every pixel for one draw of alpha: V (alpha ∘ lambda). */
export function pcaLightingOffset(
  alpha: readonly number[],
  eigval: readonly number[] = IMAGENET_EIGVAL,
  eigvec: readonly (readonly number[])[] = IMAGENET_EIGVEC,
): [number, number, number] {
  const out = [0, 1, 2].map((i) => [0, 1, 2].reduce((acc, j) => acc + eigvec[i]![j]! * alpha[j]! * eigval[j]!, 0));
  return out as [number, number, number];
}

/**
 * AlexNet PCA lighting noise: per image, alpha ~ N(0, alphaStd) for each of the three principal
 * components, and every pixel gets V (alpha ∘ lambda) added. No clipping (GluonCV does not clip).
 * RGB on the 0-255 scale; 3 channels required.
 */
export function pcaLighting({ alphaStd = 0.1, eigval = IMAGENET_EIGVAL, eigvec = IMAGENET_EIGVEC }: PcaLightingOptions = {}): BatchTransform {
  if (!(alphaStd >= 0)) throw new RangeError(`pcaLighting: alphaStd must be >= 0, got ${alphaStd}.`);
  if (eigval.length !== 3 || eigvec.length !== 3 || eigvec.some((r) => r.length !== 3)) {
    throw new Error('pcaLighting: eigval must have 3 entries and eigvec must be 3x3 (eigenvectors as columns).');
  }
  return (batch: Batch, rng) =>
    tidyBatch(() => {
      checkBatch(batch, 'pcaLighting', 3);
      const n = batch.images.shape[0];
      const offsets: number[] = [];
      for (let i = 0; i < n; i++) {
        const alpha = [rng.normal(0, alphaStd), rng.normal(0, alphaStd), rng.normal(0, alphaStd)];
        offsets.push(...pcaLightingOffset(alpha, eigval, eigvec));
      }
      return { images: tf.add(batch.images, tf.tensor4d(offsets, [n, 1, 1, 3])), labels: tf.clone(batch.labels) };
    });
}
