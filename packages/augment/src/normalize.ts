import type { BatchTransform } from '@bag-of-tricks/core';
import * as tf from '@tensorflow/tfjs-core';
import { opTransform, withDefaults, type AugmentOp } from './ops';

/** The paper's per-channel RGB mean on the 0-255 scale. */
export const IMAGENET_MEAN: readonly number[] = Object.freeze([123.68, 116.779, 103.939]);
/** The paper's per-channel RGB standard deviation on the 0-255 scale. */
export const IMAGENET_STD: readonly number[] = Object.freeze([58.393, 57.12, 57.375]);
/**
 * Fashion-MNIST's pixel mean and standard deviation on the 0-255 scale, over all 60,000 training
 * images (47,040,000 pixels; Debian's dataset-fashion-mnist): 72.9404 and 90.0212.
 */
export const FASHION_MNIST_MEAN = 72.9404;
export const FASHION_MNIST_STD = 90.0212;

export interface NormalizeOptions {
  /** One value per channel (default: the paper's ImageNet mean). */
  mean?: readonly number[];
  /** One value per channel (default: the paper's ImageNet std). */
  std?: readonly number[];
}

export const NORMALIZE_DEFAULTS: Required<NormalizeOptions> = Object.freeze({ mean: IMAGENET_MEAN, std: IMAGENET_STD });

/** (x - mean) / std per channel: no random draws; the channel count is the length of `mean`. */
export function normalizeOp(options: NormalizeOptions = {}): AugmentOp<undefined> {
  const { mean, std } = withDefaults(NORMALIZE_DEFAULTS, options);
  if (mean.length === 0 || mean.length !== std.length) {
    throw new Error(`normalize: mean and std need one value per channel and the same length, got ${mean.length} and ${std.length}.`);
  }
  if (std.some((s) => !(s > 0)) || mean.some((m) => !Number.isFinite(m))) {
    throw new RangeError(`normalize: std must be > 0 and mean finite, got mean [${mean.join(', ')}], std [${std.join(', ')}].`);
  }
  const c = mean.length;
  return {
    name: c === 1 ? 'normalizeGrey' : 'normalize',
    channels: c,
    options: { mean, std },
    sample: (_rng, n) => new Array<undefined>(n).fill(undefined),
    applyTensor(images) {
      // x / std - mean / std as one fused matMul with bias on [pixels, C]: broadcasting a
      // per-channel vector in tf.sub / tf.div is several times slower on wasm.
      const scale = tf.tensor2d(Array.from({ length: c * c }, (_, k) => (k % (c + 1) === 0 ? 1 / std[k / (c + 1)]! : 0)), [c, c]);
      const bias = tf.tensor1d(mean.map((m, k) => -m / std[k]!));
      return tf.reshape(tf.fused.matMul({ a: tf.reshape(images, [-1, c]), b: scale, bias }), images.shape) as tf.Tensor4D;
    },
    applyPixels() {},
    pixelOptions: { normalize: { mean, std } },
  };
}

/** (x - mean) / std per channel; the channel count must match `mean` and `std`. */
export function normalize(options: NormalizeOptions = {}): BatchTransform {
  return opTransform(normalizeOp(options));
}

export interface NormalizeGreyOptions {
  /** Default: Fashion-MNIST's 72.9404. */
  mean?: number;
  /** Default: Fashion-MNIST's 90.0212. */
  std?: number;
}

/** Single-channel normalize, (x - mean) / std; defaults are Fashion-MNIST's statistics on 0-255. */
export function normalizeGrey({ mean = FASHION_MNIST_MEAN, std = FASHION_MNIST_STD }: NormalizeGreyOptions = {}): BatchTransform {
  return normalize({ mean: [mean], std: [std] });
}
