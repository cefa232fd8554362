import { colorJitterOp, type ColorJitterOptions } from './color-jitter';
import { DEFAULT_RATIO, DEFAULT_SCALE, evalResizeFor, IMAGENET_EVAL_RESIZE, IMAGENET_SIZE } from './crop-box';
import { horizontalFlipOp, type HorizontalFlipOptions } from './horizontal-flip';
import { MIXUP_DEFAULTS, type MixupOptions } from './mixup';
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD, IMAGENET_MEAN, IMAGENET_STD, normalizeOp, type NormalizeOptions } from './normalize';
import { withDefaults, type AugmentOp } from './ops';
import { pcaLightingOp, type PcaLightingOptions } from './pca-lighting';

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

export interface PresetSettings {
  readonly channels: 1 | 3;
  /** Train crop side and eval (resize, crop). */
  readonly size: number;
  readonly evalResize: number;
  readonly scale: readonly [number, number];
  readonly ratio: readonly [number, number];
  readonly jitter: ColorJitterOptions | false;
  readonly lighting: PcaLightingOptions | false;
  readonly mixup: MixupOptions;
}

/** Every preset's defaults, in one place: the tensor pipelines, the pixel pass and the data package read them here. */
export const PRESETS: Readonly<Record<PipelinePreset, PresetSettings>> = Object.freeze({
  paper: {
    channels: 3,
    size: IMAGENET_SIZE,
    evalResize: IMAGENET_EVAL_RESIZE,
    scale: DEFAULT_SCALE,
    ratio: DEFAULT_RATIO,
    jitter: { form: 'hsv', brightness: 0.4, saturation: 0.4, hue: 0.4 },
    lighting: { alphaStd: 0.1 },
    mixup: MIXUP_DEFAULTS,
  },
  gluoncv: {
    channels: 3,
    size: IMAGENET_SIZE,
    evalResize: IMAGENET_EVAL_RESIZE,
    scale: DEFAULT_SCALE,
    ratio: DEFAULT_RATIO,
    jitter: { form: 'gluoncv', brightness: 0.4, contrast: 0.4, saturation: 0.4 },
    lighting: { alphaStd: 0.1 },
    mixup: { ...MIXUP_DEFAULTS, partner: 'reverse' },
  },
  greyscale: {
    channels: 1,
    size: 28,
    evalResize: evalResizeFor(28),
    scale: [0.35, 1],
    ratio: DEFAULT_RATIO,
    jitter: false,
    lighting: false,
    mixup: MIXUP_DEFAULTS,
  },
});

/** The per-image (photometric) options shared by the train pipeline and the pixel pass. */
export interface PhotometricOptions {
  /** Default 'paper'. */
  preset?: PipelinePreset;
  /** 3 (RGB) or 1 (greyscale). Default 3, or 1 for the greyscale preset. */
  channels?: 1 | 3;
  /** `false` to skip the flip (default p = 0.5). */
  flip?: boolean | HorizontalFlipOptions;
  /** Overrides the preset's jitter; `false` to skip. Refused for 1 channel. */
  colorJitter?: boolean | ColorJitterOptions;
  /** Overrides the preset's lighting; `false` to skip. Refused for 1 channel. */
  lighting?: boolean | PcaLightingOptions;
  /** Mean and std per channel; `false` to skip. */
  normalize?: false | NormalizeOptions;
}

export const PHOTOMETRIC_KEYS = ['preset', 'channels', 'flip', 'colorJitter', 'lighting', 'normalize'] as const;

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
  const c = channels ?? PRESETS[preset].channels;
  if (c !== 1 && c !== 3) throw new Error(`${where}: channels must be 1 or 3, got ${c}.`);
  if (preset === 'greyscale' && c !== 1) throw new Error(`${where}: the greyscale preset is for 1 channel, got channels: ${c}.`);
  return c;
}

/** The normalize statistics for a channel count: Fashion-MNIST's for 1, the paper's ImageNet ones for 3. */
export function defaultNormalize(channels: 1 | 3): Required<NormalizeOptions> {
  return channels === 1 ? { mean: [FASHION_MNIST_MEAN], std: [FASHION_MNIST_STD] } : { mean: IMAGENET_MEAN, std: IMAGENET_STD };
}

/** A preset and its overrides, resolved: the channel count and the per-image ops in the paper's order. */
export interface ResolvedPreset {
  readonly preset: PipelinePreset;
  readonly settings: PresetSettings;
  readonly channels: 1 | 3;
  /** Flip, colour jitter, PCA lighting, normalize: those switched on, in this order. */
  readonly ops: readonly AugmentOp<unknown>[];
}

/**
 * The one place where a preset and the user's options become augmentation ops. `trainPipeline`
 * (tensors) and `pixelPipeline` (the loader's fused pass) are both built from what it returns.
 */
export function resolvePreset(options: PhotometricOptions, where: string): ResolvedPreset {
  const preset = presetOf(options.preset, where);
  const channels = channelsOf(options.channels, preset, where);
  const settings = PRESETS[preset];
  const grey = channels === 1;
  const pick = <T extends object>(value: boolean | T | undefined, fallback: T | false): T | false =>
    value === undefined || value === true ? fallback : value;
  // A 3-channel run of the greyscale preset cannot happen (channelsOf refuses it): RGB falls back to the paper's jitter.
  const jitter = pick(options.colorJitter, grey ? false : settings.jitter || PRESETS.paper.jitter);
  const lighting = pick(options.lighting, grey ? false : settings.lighting || PRESETS.paper.lighting);
  if (grey && (jitter || lighting || options.colorJitter === true || options.lighting === true)) {
    throw new Error(
      `${where}: colour jitter and PCA lighting need RGB images, but channels is 1. Leave colorJitter and lighting unset (or false) for greyscale data.`,
    );
  }
  const normOption = options.normalize === undefined ? {} : options.normalize;
  const norm = normOption ? withDefaults(defaultNormalize(channels), normOption) : false;
  if (norm && (norm.mean.length !== channels || norm.std.length !== channels)) {
    throw new Error(`${where}: normalize needs ${channels} mean and std value(s) for ${channels} channel(s), got ${norm.mean.length} and ${norm.std.length}.`);
  }
  const flip = options.flip === undefined || options.flip === true ? {} : options.flip;
  const ops: AugmentOp<unknown>[] = [];
  if (flip) ops.push(horizontalFlipOp(flip) as AugmentOp<unknown>);
  if (jitter) ops.push(colorJitterOp(jitter) as AugmentOp<unknown>);
  if (lighting) ops.push(pcaLightingOp(lighting) as AugmentOp<unknown>);
  if (norm) ops.push(normalizeOp(norm) as AugmentOp<unknown>);
  return { preset, settings, channels, ops };
}
