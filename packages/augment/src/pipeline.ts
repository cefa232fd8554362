import type { BatchTransform } from '@bag-of-tricks/core';
import { checkBatch } from './checks';
import { compose } from './compose';
import { cutmix, type CutmixOptions } from './cutmix';
import { mixup, type MixupOptions } from './mixup';
import { opTransform, withDefaults } from './ops';
import { normalize, type NormalizeOptions } from './normalize';
import { channelsOf, checkKeys, defaultNormalize, presetOf, PRESETS, resolvePreset, type PhotometricOptions, type PipelinePreset } from './presets';
import { randomResizedCrop, resizeShorterCenterCrop, type Size } from './random-resized-crop';

export type { PipelinePreset } from './presets';

export interface TrainPipelineOptions extends PhotometricOptions {
  /** Output size (default the preset's `PRESETS[preset].size`: `IMAGENET_SIZE` 224, greyscale 28). */
  size?: Size;
  /** Random-resized-crop area range (default [0.08, 1]; greyscale [0.35, 1]). */
  scale?: readonly [number, number];
  /** Aspect-ratio range (default [3/4, 4/3]). */
  ratio?: readonly [number, number];
  /** Mixup after normalize (default off); `true` takes the preset's settings. */
  mixup?: boolean | MixupOptions;
  /** CutMix after normalize (default off); cannot be combined with mixup here. */
  cutmix?: boolean | CutmixOptions;
}

const TRAIN_KEYS = ['preset', 'channels', 'size', 'scale', 'ratio', 'flip', 'colorJitter', 'lighting', 'normalize', 'mixup', 'cutmix'];
const EVAL_KEYS = ['preset', 'channels', 'resize', 'crop', 'normalize'];

/**
 * The paper's training augmentation, in its order: random-resized crop, horizontal flip, colour
 * jitter, PCA lighting, normalize, then (optionally) mixup or CutMix at batch level.
 * Input: float32 NHWC pixels in [0, 255] and [N, K] labels, all images the same size.
 */
export function trainPipeline(options: TrainPipelineOptions = {}): BatchTransform {
  const where = 'trainPipeline';
  checkKeys(options, TRAIN_KEYS, where);
  const { size, scale, ratio, mixup: mixOption, cutmix: cutOption, ...photometric } = options;
  const resolved = resolvePreset(photometric, where);
  const { settings } = resolved;
  const mix = mixOption === true ? settings.mixup : mixOption || false;
  const cut = cutOption === true ? {} : cutOption || false;
  if (mix && cut) throw new Error(`${where}: choose mixup or cutmix, not both (alternate between two pipelines if you want both).`);
  const steps: BatchTransform[] = [
    randomResizedCrop({ size: size ?? PRESETS[resolved.channels === 1 ? 'greyscale' : resolved.preset].size, scale: scale ?? settings.scale, ratio: ratio ?? settings.ratio }),
    ...resolved.ops.map(opTransform),
  ];
  if (mix) steps.push(mixup(mix));
  if (cut) steps.push(cutmix(cut));
  return checkedFirst(compose(...steps), where, resolved.channels);
}

/** Checks the batch once up front, so a wrong input fails before any work with the pipeline's name. */
function checkedFirst(transform: BatchTransform, where: string, channels: 1 | 3): BatchTransform {
  return (batch, rng) => {
    checkBatch(batch, where, channels);
    return transform(batch, rng);
  };
}

export interface EvalPipelineOptions {
  /** Default 'paper'; 'greyscale' changes the defaults to 32 -> 28 and 1 channel. */
  preset?: PipelinePreset;
  channels?: 1 | 3;
  /** Shorter side after resizing (default the preset's `evalResize`: 256, greyscale 32); `false` skips it. */
  resize?: number | false;
  /** Square centre crop (default the preset's `size`: 224, greyscale 28). 224/256 = 28/32 = `EVAL_CROP_FRACTION`. */
  crop?: number;
  /** `false` to skip. */
  normalize?: false | NormalizeOptions;
}

/** Validation: resize the shorter side, centre crop, normalize. Deterministic. */
export function evalPipeline(options: EvalPipelineOptions = {}): BatchTransform {
  checkKeys(options, EVAL_KEYS, 'evalPipeline');
  const preset = presetOf(options.preset, 'evalPipeline');
  const channels = channelsOf(options.channels, preset, 'evalPipeline');
  const settings = PRESETS[channels === 1 ? 'greyscale' : preset];
  const steps: BatchTransform[] = [resizeShorterCenterCrop({ resize: options.resize ?? settings.evalResize, crop: options.crop ?? settings.size })];
  const norm = options.normalize === undefined ? {} : options.normalize;
  if (norm) steps.push(normalize(withDefaults(defaultNormalize(channels), norm)));
  return checkedFirst(compose(...steps), 'evalPipeline', channels);
}
