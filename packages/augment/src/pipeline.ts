import type { BatchTransform } from '@bag-of-tricks/core';
import { checkBatch } from './checks';
import { colorJitter, type ColorJitterOptions } from './color-jitter';
import { compose } from './compose';
import { cutmix, type CutmixOptions } from './cutmix';
import { horizontalFlip, type HorizontalFlipOptions } from './horizontal-flip';
import { mixup, type MixupOptions } from './mixup';
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD, IMAGENET_MEAN, IMAGENET_STD, normalize, type NormalizeOptions } from './normalize';
import { pcaLighting, type PcaLightingOptions } from './pca-lighting';
import { randomResizedCrop, resizeShorterCenterCrop, type Size } from './random-resized-crop';

/**
 * - `'paper'`: He et al. 2019 section 2.1, faithfully: HSV jitter (hue, saturation, brightness
 *   scaled in [0.6, 1.4]), PCA lighting 0.1, ImageNet normalize; mixup (when on) alpha 0.2 with one
 *   lambda per batch.
 * - `'gluoncv'`: GluonCV's train_imagenet.py: brightness/contrast/saturation 0.4, lighting 0.1;
 *   mixup (when on) one lambda per batch, partner = the batch reversed.
 * - `'greyscale'`: 28x28 single-channel data such as Fashion-MNIST: milder crop (scale
 *   [0.35, 1]), flip, no colour jitter or lighting, normalize with Fashion-MNIST's statistics.
 */
export type PipelinePreset = 'paper' | 'gluoncv' | 'greyscale';

export interface TrainPipelineOptions {
  /** Default 'paper'. */
  preset?: PipelinePreset;
  /** 3 (RGB) or 1 (greyscale). Default 3, or 1 for the greyscale preset. */
  channels?: 1 | 3;
  /** Output size (default 224; 28 for greyscale). */
  size?: Size;
  /** Random-resized-crop area range (default [0.08, 1]; greyscale [0.35, 1]). */
  scale?: readonly [number, number];
  /** Aspect-ratio range (default [3/4, 4/3]). */
  ratio?: readonly [number, number];
  /** `false` to skip the flip. */
  flip?: boolean | HorizontalFlipOptions;
  /** Overrides the preset's jitter; `false` to skip. Refused for 1 channel. */
  colorJitter?: boolean | ColorJitterOptions;
  /** Overrides the preset's lighting; `false` to skip. Refused for 1 channel. */
  lighting?: boolean | PcaLightingOptions;
  /** Mean and std per channel; `false` to skip. */
  normalize?: false | NormalizeOptions;
  /** Mixup after normalize (default off); `true` takes the preset's settings. */
  mixup?: boolean | MixupOptions;
  /** CutMix after normalize (default off); cannot be combined with mixup here. */
  cutmix?: boolean | CutmixOptions;
}

export const PRESETS: Record<PipelinePreset, { jitter: ColorJitterOptions | false; lighting: PcaLightingOptions | false; mixup: MixupOptions }> = {
  paper: {
    jitter: { form: 'hsv', brightness: 0.4, saturation: 0.4, hue: 0.4 },
    lighting: { alphaStd: 0.1 },
    mixup: { alpha: 0.2, perSample: false, partner: 'permutation' },
  },
  gluoncv: {
    jitter: { form: 'gluoncv', brightness: 0.4, contrast: 0.4, saturation: 0.4 },
    lighting: { alphaStd: 0.1 },
    mixup: { alpha: 0.2, perSample: false, partner: 'reverse' },
  },
  greyscale: { jitter: false, lighting: false, mixup: { alpha: 0.2, perSample: false, partner: 'permutation' } },
};

const TRAIN_KEYS = ['preset', 'channels', 'size', 'scale', 'ratio', 'flip', 'colorJitter', 'lighting', 'normalize', 'mixup', 'cutmix'];
const EVAL_KEYS = ['preset', 'channels', 'resize', 'crop', 'normalize'];

/** Options often come from JSON configs: a misspelt key must not be ignored silently. */
export function checkKeys(options: object, allowed: readonly string[], where: string): void {
  const unknown = Object.keys(options ?? {}).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new Error(`${where}: unknown option(s) ${unknown.join(', ')}; the options are ${allowed.join(', ')}.`);
}

export function presetOf(preset: string | undefined, where: string): PipelinePreset {
  const p = preset ?? 'paper';
  if (!(p in PRESETS)) throw new Error(`${where}: preset must be one of ${Object.keys(PRESETS).join(', ')}, got ${JSON.stringify(preset)}.`);
  return p as PipelinePreset;
}

export function channelsOf(channels: number | undefined, preset: PipelinePreset, where: string): 1 | 3 {
  const c = channels ?? (preset === 'greyscale' ? 1 : 3);
  if (c !== 1 && c !== 3) throw new Error(`${where}: channels must be 1 or 3, got ${c}.`);
  if (preset === 'greyscale' && c !== 1) throw new Error(`${where}: the greyscale preset is for 1 channel, got channels: ${c}.`);
  return c;
}

export function defaultNormalize(channels: 1 | 3): NormalizeOptions {
  return channels === 1 ? { mean: [FASHION_MNIST_MEAN], std: [FASHION_MNIST_STD] } : { mean: IMAGENET_MEAN, std: IMAGENET_STD };
}

/**
 * The paper's training augmentation, in its order: random-resized crop, horizontal flip, colour
 * jitter, PCA lighting, normalize, then (optionally) mixup or CutMix at batch level.
 * Input: float32 NHWC pixels in [0, 255] and [N, K] labels, all images the same size.
 */
export function trainPipeline(options: TrainPipelineOptions = {}): BatchTransform {
  const where = 'trainPipeline';
  checkKeys(options, TRAIN_KEYS, where);
  const preset = presetOf(options.preset, where);
  const channels = channelsOf(options.channels, preset, where);
  const p = PRESETS[preset];
  const grey = channels === 1;
  const pick = <T extends object>(value: boolean | T | undefined, fallback: T | false): T | false =>
    value === undefined || value === true ? fallback : value;
  const jitter = pick(options.colorJitter, grey ? false : p.jitter || PRESETS.paper.jitter);
  const lighting = pick(options.lighting, grey ? false : p.lighting || PRESETS.paper.lighting);
  if (grey && (jitter || lighting || options.colorJitter === true || options.lighting === true)) {
    throw new Error(
      `${where}: colour jitter and PCA lighting need RGB images, but channels is 1. Leave colorJitter and lighting unset (or false) for greyscale data.`,
    );
  }
  const mix = options.mixup === true ? p.mixup : options.mixup || false;
  const cut = options.cutmix === true ? {} : options.cutmix || false;
  if (mix && cut) throw new Error(`${where}: choose mixup or cutmix, not both (alternate between two pipelines if you want both).`);
  const norm = options.normalize === undefined ? defaultNormalize(channels) : options.normalize;
  if (norm && norm.mean && norm.mean.length !== channels) {
    throw new Error(`${where}: normalize.mean has ${norm.mean.length} values for ${channels} channel(s).`);
  }
  const flip = options.flip === undefined || options.flip === true ? {} : options.flip;
  const steps: BatchTransform[] = [
    randomResizedCrop({
      size: options.size ?? (grey ? 28 : 224),
      scale: options.scale ?? (preset === 'greyscale' ? [0.35, 1] : [0.08, 1]),
      ratio: options.ratio ?? [3 / 4, 4 / 3],
    }),
  ];
  if (flip) steps.push(horizontalFlip(flip));
  if (jitter) steps.push(colorJitter(jitter));
  if (lighting) steps.push(pcaLighting(lighting));
  if (norm) steps.push(normalize(norm.mean ? norm : { ...defaultNormalize(channels), ...norm }));
  if (mix) steps.push(mixup(mix));
  if (cut) steps.push(cutmix(cut));
  return checkedFirst(compose(...steps), where, channels);
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
  /** Shorter side after resizing (default 256; greyscale 32); `false` skips it. */
  resize?: number | false;
  /** Square centre crop (default 224; greyscale 28). 224/256 = 28/32 = 0.875. */
  crop?: number;
  /** `false` to skip. */
  normalize?: false | NormalizeOptions;
}

/** Validation: resize the shorter side, centre crop, normalize. Deterministic. */
export function evalPipeline(options: EvalPipelineOptions = {}): BatchTransform {
  checkKeys(options, EVAL_KEYS, 'evalPipeline');
  const preset = presetOf(options.preset, 'evalPipeline');
  const channels = channelsOf(options.channels, preset, 'evalPipeline');
  const grey = channels === 1;
  const steps: BatchTransform[] = [
    resizeShorterCenterCrop({ resize: options.resize ?? (grey ? 32 : 256), crop: options.crop ?? (grey ? 28 : 224) }),
  ];
  const norm = options.normalize === undefined ? defaultNormalize(channels) : options.normalize;
  if (norm) steps.push(normalize(norm.mean ? norm : { ...defaultNormalize(channels), ...norm }));
  return checkedFirst(compose(...steps), 'evalPipeline', channels);
}
