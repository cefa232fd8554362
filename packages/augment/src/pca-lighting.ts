import type { BatchTransform } from '@bag-of-tricks/core';
import * as tf from '@tensorflow/tfjs-core';
import { opTransform, perImage, withDefaults, type AugmentOp } from './ops';

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

export const PCA_LIGHTING_DEFAULTS: Required<PcaLightingOptions> = Object.freeze({ alphaStd: 0.1, eigval: IMAGENET_EIGVAL, eigvec: IMAGENET_EIGVEC });

/** The RGB offset added to every pixel for one draw of alpha: V (alpha ∘ lambda). */
export function pcaLightingOffset(
  alpha: readonly number[],
  eigval: readonly number[] = IMAGENET_EIGVAL,
  eigvec: readonly (readonly number[])[] = IMAGENET_EIGVEC,
): [number, number, number] {
  const out = [0, 1, 2].map((i) => [0, 1, 2].reduce((acc, j) => acc + eigvec[i]![j]! * alpha[j]! * eigval[j]!, 0));
  return out as [number, number, number];
}

/** AlexNet PCA lighting: per image alpha ~ N(0, alphaStd) per component; the draw is the RGB offset V (alpha ∘ lambda). */
export function pcaLightingOp(options: PcaLightingOptions = {}): AugmentOp<[number, number, number]> {
  const { alphaStd, eigval, eigvec } = withDefaults(PCA_LIGHTING_DEFAULTS, options);
  if (!(alphaStd >= 0)) throw new RangeError(`pcaLighting: alphaStd must be >= 0, got ${alphaStd}.`);
  if (eigval.length !== 3 || eigvec.length !== 3 || eigvec.some((r) => r.length !== 3)) {
    throw new Error('pcaLighting: eigval must have 3 entries and eigvec must be 3x3 (eigenvectors as columns).');
  }
  return {
    name: 'pcaLighting',
    channels: 3,
    options: { alphaStd, eigval, eigvec },
    sample: (rng, n) =>
      perImage(n, () => pcaLightingOffset([rng.normal(0, alphaStd), rng.normal(0, alphaStd), rng.normal(0, alphaStd)], eigval, eigvec)),
    applyTensor: (images, offsets) => tf.add(images, tf.tensor4d(offsets.flat(), [offsets.length, 1, 1, 3])),
    applyPixels(offset, into) {
      into.lighting = offset;
    },
  };
}

/**
 * AlexNet PCA lighting noise: per image, alpha ~ N(0, alphaStd) for each of the three principal
 * components, and every pixel gets V (alpha ∘ lambda) added. No clipping (GluonCV does not clip).
 * RGB on the 0-255 scale; 3 channels required.
 */
export function pcaLighting(options: PcaLightingOptions = {}): BatchTransform {
  return opTransform(pcaLightingOp(options));
}
