import { createRng } from '@bag-of-tricks/core';
import { COLOR_JITTER_DEFAULTS } from './color-jitter';
import { DEFAULT_RATIO, DEFAULT_SCALE, EVAL_CROP_FRACTION, sampleRandomResizedCrop } from './crop-box';
import { CUTMIX_DEFAULTS } from './cutmix';
import { HORIZONTAL_FLIP_DEFAULTS } from './horizontal-flip';
import { MIXUP_DEFAULTS } from './mixup';
import { NORMALIZE_DEFAULTS } from './normalize';
import { PCA_LIGHTING_DEFAULTS } from './pca-lighting';
import { trainPipeline, type TrainPipelineOptions } from './pipeline';
import { checkKeys, PHOTOMETRIC_KEYS, PRESETS, resolvePreset, type PhotometricOptions } from './presets';

/**
 * How a decoder's crop becomes size x size, by who resizes it. `dataset`: a dataset used alone returns
 * finished pixels, resized with sharp's antialiased lanczos3. `loader`: a loader with the per-image pass after
 * it (the trainer always has one) resizes the crop there by bilinear sampling (`applyPixelDrawResized`, the
 * tensor `randomResizedCrop`'s values; decodes only the crop region, ~1.7x faster per core).
 */
export const RESAMPLE_DEFAULTS = Object.freeze({ dataset: 'lanczos3' as 'lanczos3' | 'bilinear', loader: 'bilinear' as 'lanczos3' | 'bilinear' });

/**
 * Every default of this package in one object (each is defined once, beside the op that uses it, and
 * collected here): the trainer's config schema and its --help read them from here.
 */
export const DEFAULTS = Object.freeze({
  crop: Object.freeze({ scale: DEFAULT_SCALE, ratio: DEFAULT_RATIO }),
  flip: HORIZONTAL_FLIP_DEFAULTS,
  colorJitter: COLOR_JITTER_DEFAULTS,
  pcaLighting: PCA_LIGHTING_DEFAULTS,
  normalize: NORMALIZE_DEFAULTS,
  mixup: MIXUP_DEFAULTS,
  cutmix: CUTMIX_DEFAULTS,
  presets: PRESETS,
  evalCropFraction: EVAL_CROP_FRACTION,
  resample: RESAMPLE_DEFAULTS,
});

/** The crop options a decoder applies before the per-image pass (an image folder's dataset). */
export const CROP_KEYS = ['scale', 'ratio'] as const;

/** The options of the per-image path: the decoder's crop, then `pixelPipeline`'s photometric ops. */
export const PIXEL_PATH_KEYS = [...CROP_KEYS, ...PHOTOMETRIC_KEYS] as const;

/**
 * Checks augmentation options from a JSON config without touching a tensor. `target: 'tensor'` (default):
 * options for `trainPipeline`; `'pixel'`: the crop (`scale`, `ratio`) plus `pixelPipeline`'s per-image
 * options (an image folder: the dataset crops, the loader's fused pass does the rest). Throws the error the
 * pipeline would throw, prefixed with `where` (e.g. 'augment'), naming the option and what is allowed.
 */
export function validateAugmentOptions(options: unknown, { target = 'tensor', where = 'augment' }: { target?: 'tensor' | 'pixel'; where?: string } = {}): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${where}: must be an object of augmentation options, got ${JSON.stringify(options)}.`);
  }
  if (target === 'tensor') {
    trainPipeline(options as TrainPipelineOptions);
    const { scale, ratio } = options as TrainPipelineOptions;
    if (scale !== undefined || ratio !== undefined) sampleRandomResizedCrop(createRng(0), 8, 8, { ...(scale ? { scale } : {}), ...(ratio ? { ratio } : {}) });
    return;
  }
  const unknown = Object.keys(options).filter((k) => !(PIXEL_PATH_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new Error(`${where}: ${unknown.join(', ')} cannot be used on the per-image path (the crop size is the decoder's); allowed: ${PIXEL_PATH_KEYS.join(', ')}.`);
  }
  const { scale, ratio, ...photometric } = options as PhotometricOptions & { scale?: readonly [number, number]; ratio?: readonly [number, number] };
  checkKeys(photometric, PHOTOMETRIC_KEYS, where);
  resolvePreset(photometric, where);
  if (scale !== undefined || ratio !== undefined) sampleRandomResizedCrop(createRng(0), 8, 8, { ...(scale ? { scale } : {}), ...(ratio ? { ratio } : {}) });
}
