import type { BatchTransform } from '@bag-of-tricks/core';
import * as tf from '@tensorflow/tfjs-core';
import { opTransform, perImage, withDefaults, type AugmentOp } from './ops';

export interface HorizontalFlipOptions {
  /** Probability of flipping each image (default 0.5). */
  p?: number;
}

export const HORIZONTAL_FLIP_DEFAULTS: Required<HorizontalFlipOptions> = Object.freeze({ p: 0.5 });

/** Mirror left-right with probability `p`, one draw per image (`true`: flip). Exact (a reversal) on both paths. */
export function horizontalFlipOp(options: HorizontalFlipOptions = {}): AugmentOp<boolean> {
  const { p } = withDefaults(HORIZONTAL_FLIP_DEFAULTS, options);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`horizontalFlip: p must be in [0, 1], got ${p}.`);
  return {
    name: 'horizontalFlip',
    options: { p },
    sample: (rng, n) => perImage(n, () => rng.bernoulli(p)),
    applyTensor(images, flags) {
      if (!flags.includes(true)) return tf.clone(images);
      // One cropAndResize with per-image boxes: [0, 1, 1, 0] samples columns W-1, W-2, ... 0 at
      // exact integer positions (zero interpolation weight), so it is an exact mirror, and it is
      // far faster on wasm than tf.reverse plus a broadcast tf.where.
      const [n, height, width] = images.shape;
      const boxes = tf.tensor2d(flags.flatMap((f) => (f ? [0, 1, 1, 0] : [0, 0, 1, 1])), [n, 4]);
      const boxInd = tf.tensor1d(Array.from({ length: n }, (_, i) => i), 'int32');
      return tf.image.cropAndResize(images, boxes, boxInd, [height, width], 'bilinear');
    },
    applyPixels(flip, into) {
      into.flip = flip;
    },
  };
}

/** Mirrors each image left-right with probability `p`, one draw per image. Exact (a reversal). */
export function horizontalFlip(options: HorizontalFlipOptions = {}): BatchTransform {
  return opTransform(horizontalFlipOp(options));
}
