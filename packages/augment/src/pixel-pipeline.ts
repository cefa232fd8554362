import type { BatchTransform, Rng } from '@bag-of-tricks/core';
import { compose } from './compose';
import type { CropBox } from './crop-box';
import { opTransform } from './ops';
import { applyPixelDraw, type PixelDraw, type PixelPassOptions, type Pixels } from './pixel-kernel';
import { applyPixelDrawResized } from './pixel-resize';
import { checkKeys, PHOTOMETRIC_KEYS, resolvePreset, type PhotometricOptions } from './presets';

/** The per-image options of {@link trainPipeline}: preset, channels, flip, colorJitter, lighting, normalize. */
export type PixelPipelineOptions = PhotometricOptions;

/** The photometric part of {@link trainPipeline} on typed arrays, one image at a time. */
export interface PixelPipeline {
  readonly channels: 1 | 3;
  /**
   * Draws for `n` images from `rng`, in the same order and number as {@link PixelPipeline.tensorTransform}
   * draws for a batch of `n`: all flips, then all jitter factors, then all lighting alphas.
   */
  sample(rng: Rng, n: number): PixelDraw[];
  /** One image, HWC 0-255, into `out[offset ..]` (float32). */
  apply(src: Pixels, height: number, width: number, draw: PixelDraw, out: Float32Array, offset?: number): void;
  /**
   * One image as a crop-and-resize of `src` (srcHeight x srcWidth, HWC 0-255): `box` resized to
   * height x width with bilinear sampling, fused with the draw (see `applyPixelDrawResized`).
   */
  applyResized(
    src: Pixels,
    srcHeight: number,
    srcWidth: number,
    box: CropBox,
    height: number,
    width: number,
    draw: PixelDraw,
    out: Float32Array,
    offset?: number,
  ): void;
  /** A batch of same-size images: samples `images.length` draws from `rng` and writes NHWC float32 (into `out` when given). */
  applyBatch(images: readonly Pixels[], height: number, width: number, rng: Rng, out?: Float32Array): Float32Array;
  /** The same steps as tensor transforms (`compose(horizontalFlip, colorJitter, pcaLighting, normalize)`): the reference. */
  readonly tensorTransform: BatchTransform;
}


/**
 * Flip, colour jitter, PCA lighting and normalize, with {@link trainPipeline}'s presets and
 * defaults, as one fused pass per image over typed arrays. Built from the same ops as the tensor
 * pipeline (`resolvePreset`), so it draws the same numbers and equals `tensorTransform` on the same
 * rng (to float tolerance); `tensorTransform` followed by mixup equals `applyBatch` then mixup.
 */
export function pixelPipeline(options: PixelPipelineOptions = {}): PixelPipeline {
  const where = 'pixelPipeline';
  checkKeys(options, PHOTOMETRIC_KEYS, where);
  const { channels, ops } = resolvePreset(options, where);
  const tensorTransform = compose(...ops.map(opTransform));
  const passOptions: PixelPassOptions = Object.assign({ channels, clip: true }, ...ops.map((op) => op.pixelOptions ?? {}));

  function sample(rng: Rng, n: number): PixelDraw[] {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`${where}.sample: n must be an integer >= 0, got ${n}.`);
    // Same order as the composed tensor transforms: each op draws for the whole batch.
    const draws: PixelDraw[] = Array.from({ length: n }, () => ({ flip: false }));
    for (const op of ops) op.sample(rng, n).forEach((d, i) => op.applyPixels(d, draws[i]!));
    return draws;
  }

  function apply(src: Pixels, height: number, width: number, draw: PixelDraw, out: Float32Array, offset = 0): void {
    applyPixelDraw(src, height, width, draw, passOptions, out, offset);
  }

  return {
    channels,
    sample,
    apply,
    applyResized(src, srcHeight, srcWidth, box, height, width, draw, out, offset = 0) {
      applyPixelDrawResized(src, srcHeight, srcWidth, box, height, width, draw, passOptions, out, offset);
    },
    applyBatch(images, height, width, rng, out) {
      const per = height * width * channels;
      const o = out ?? new Float32Array(images.length * per);
      const draws = sample(rng, images.length);
      images.forEach((img, i) => apply(img, height, width, draws[i]!, o, i * per));
      return o;
    },
    tensorTransform,
  };
}
