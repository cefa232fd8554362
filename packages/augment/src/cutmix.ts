import type { Batch, BatchTransform, Rng } from '@bag-of-tricks/core';
import * as tf from '@tensorflow/tfjs-core';
import { checkBatch, tidyBatch } from './checks';
import type { CropBox } from './crop-box';
import { withDefaults } from './ops';
import { samplePartners, type MixPartner } from './mixup';

export interface CutmixOptions {
  /** lambda ~ Beta(alpha, alpha) (default 1, CutMix's own). */
  alpha?: number;
  /** Default 'permutation'. */
  partner?: MixPartner;
}

/** CutMix's own: alpha 1 (lambda uniform), a random permutation as partners. */
export const CUTMIX_DEFAULTS: Readonly<Required<CutmixOptions>> = Object.freeze({ alpha: 1, partner: 'permutation' });

/** One CutMix draw: the pasted box, the label weight of the ORIGINAL image (by actual area) and partners. */
export interface CutmixDraw {
  readonly box: CropBox;
  readonly lambda: number;
  readonly partner: readonly number[];
}

/**
 * CutMix's box as in the reference code (clovaai/CutMix-PyTorch `rand_bbox`): side ratio
 * sqrt(1 - lambda), centre uniform over the image, clipped to it; lambda is then recomputed
 * from the clipped box's area. Draws: lambda, centre row, centre column, then the partners.
 */
export function sampleCutmix(rng: Rng, n: number, height: number, width: number, options: CutmixOptions = {}): CutmixDraw {
  const { alpha, partner } = withDefaults(CUTMIX_DEFAULTS, options);
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw new RangeError(`cutmix: alpha must be > 0, got ${alpha}.`);
  if (partner !== 'permutation' && partner !== 'reverse') {
    throw new Error(`cutmix: partner must be 'permutation' or 'reverse', got ${JSON.stringify(partner)}.`);
  }
  const lam = rng.beta(alpha, alpha);
  const cut = Math.sqrt(1 - lam);
  const cutH = Math.trunc(height * cut);
  const cutW = Math.trunc(width * cut);
  const cy = rng.int(0, height);
  const cx = rng.int(0, width);
  const clamp = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  const y1 = clamp(cy - Math.floor(cutH / 2), height);
  const y2 = clamp(cy + Math.floor(cutH / 2), height);
  const x1 = clamp(cx - Math.floor(cutW / 2), width);
  const x2 = clamp(cx + Math.floor(cutW / 2), width);
  const box = { y: y1, x: x1, height: y2 - y1, width: x2 - x1 };
  return { box, lambda: 1 - (box.height * box.width) / (height * width), partner: samplePartners(rng, n, partner) };
}

/** Pastes `box` from each partner image into each image; labels mix as lambda y_i + (1 - lambda) y_partner. */
export function cutmixBatch(batch: Batch, { box, lambda, partner }: CutmixDraw): Batch {
  return tidyBatch(() => {
    checkBatch(batch, 'cutmixBatch');
    const [n, height, width] = batch.images.shape;
    if (partner.length !== n) throw new Error(`cutmixBatch: need ${n} partners, got ${partner.length}.`);
    const idx = tf.tensor1d([...partner], 'int32');
    const inRange = (len: number, start: number, size: number) => {
      const r = tf.range(0, len, 1, 'int32');
      return tf.cast(tf.logicalAnd(tf.greaterEqual(r, start), tf.less(r, start + size)), 'float32') as tf.Tensor1D;
    };
    const mask = tf.reshape(tf.outerProduct(inRange(height, box.y, box.height), inRange(width, box.x, box.width)), [1, height, width, 1]);
    const images = tf.add(tf.mul(tf.sub(1, mask), batch.images), tf.mul(mask, tf.gather(batch.images, idx))) as tf.Tensor4D;
    const labels = tf.add(tf.mul(lambda, batch.labels), tf.mul(1 - lambda, tf.gather(batch.labels, idx))) as tf.Tensor2D;
    return { images, labels };
  });
}

/** CutMix (Yun et al. 2019): one box and lambda per batch; labels weighted by the pasted area. */
export function cutmix(options: CutmixOptions = {}): BatchTransform {
  return (batch: Batch, rng) => {
    checkBatch(batch, 'cutmix');
    const [n, height, width] = batch.images.shape;
    return cutmixBatch(batch, sampleCutmix(rng, n, height, width, options));
  };
}
