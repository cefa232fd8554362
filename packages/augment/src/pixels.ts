import type { BatchTransform, Rng } from '@bag-of-tricks/core';
import { factorRange } from './checks';
import { colorJitter, yiqHueMatrix, type ColorJitterOptions } from './color-jitter';
import { compose } from './compose';
import { horizontalFlip, type HorizontalFlipOptions } from './horizontal-flip';
import { normalize, type NormalizeOptions } from './normalize';
import { IMAGENET_EIGVAL, IMAGENET_EIGVEC, pcaLighting, pcaLightingOffset, type PcaLightingOptions } from './pca-lighting';
import { channelsOf, checkKeys, defaultNormalize, PRESETS, presetOf, type PipelinePreset } from './pipeline';

/**
 * Per-image pixel path: the photometric steps of the train pipeline (flip, colour jitter, PCA
 * lighting, normalize) as plain loops over HWC pixels in typed arrays, fused into one pass that
 * writes float32 output. No tensors, no Node APIs: it runs in a browser or a worker too. Each step
 * computes what the tensor transform of the same name computes (to float tolerance: the loops
 * work in float64, the tensors in float32), and {@link pixelPipeline} draws from the rng in the
 * tensor pipeline's order, so both paths give the same batch for the same rng.
 */

/** HWC pixels: 0-255 values as bytes (what a decoder hands over) or floats. */
export type Pixels = Uint8Array | Uint8ClampedArray | Float32Array | Float64Array;

/** One image's random draws for the fused pass. Absent steps are skipped. */
export interface PixelDraw {
  /** Mirror left-right. */
  flip: boolean;
  /** Paper HSV jitter: [hue, saturation, value] scale factors. */
  hsv?: readonly [number, number, number];
  /** GluonCV jitter: brightness, contrast, saturation factors and (when hue > 0) the 3x3 YIQ hue matrix, row-major (rgb_out = M rgb). */
  gluoncv?: { readonly brightness: number; readonly contrast: number; readonly saturation: number; readonly hueMatrix?: readonly number[] };
  /** PCA lighting: the RGB offset added to every pixel (see `pcaLightingOffset`). */
  lighting?: readonly [number, number, number];
}

/** Static settings of the fused pass. */
export interface PixelPassOptions {
  /** 3 (RGB) or 1. Jitter and lighting need 3. */
  channels: 1 | 3;
  /** Clip jitter output to [0, 255] (as `colorJitter`'s `clip`, default true). */
  clip?: boolean;
  /** Per-channel mean and std; absent: no normalize (output stays on the 0-255 scale). */
  normalize?: { readonly mean: readonly number[]; readonly std: readonly number[] };
}

const LUMA_R = 0.299;
const LUMA_G = 0.587;
const LUMA_B = 0.114;
const INV255 = 1 / 255;

function checkSizes(src: Pixels, height: number, width: number, channels: number, out: Float32Array, offset: number, where: string): void {
  const len = height * width * channels;
  if (!(Number.isInteger(height) && Number.isInteger(width) && height > 0 && width > 0)) {
    throw new RangeError(`${where}: height and width must be positive integers, got ${height}x${width}.`);
  }
  if (src.length !== len) throw new Error(`${where}: expected ${height}x${width}x${channels} = ${len} pixel values, got ${src.length}.`);
  if (!Number.isInteger(offset) || offset < 0 || offset + len > out.length) {
    throw new RangeError(`${where}: output of ${out.length} values has no room for ${len} at offset ${offset}.`);
  }
}

/**
 * The fused pass for one image: reads `src` (HWC, 0-255), writes `out[offset ..]` (float32 HWC):
 * flip, then jitter (HSV or GluonCV), then lighting, then normalize, in the train pipeline's order.
 * `src` and `out` may not overlap unless no flip is drawn.
 */
export function applyPixelDraw(
  src: Pixels,
  height: number,
  width: number,
  draw: PixelDraw,
  options: PixelPassOptions,
  out: Float32Array,
  offset = 0,
): void {
  const { channels, clip = true } = options;
  const where = 'applyPixelDraw';
  checkSizes(src, height, width, channels, out, offset, where);
  const norm = options.normalize;
  if (norm && (norm.mean.length !== channels || norm.std.length !== channels)) {
    throw new Error(`${where}: normalize needs ${channels} mean and std values, got ${norm.mean.length} and ${norm.std.length}.`);
  }
  // normalize as the tensor op does it: x * (1 / std) + (-mean / std).
  const scale = [1, 1, 1];
  const bias = [0, 0, 0];
  if (norm) {
    for (let c = 0; c < channels; c++) {
      scale[c] = 1 / norm.std[c]!;
      bias[c] = -norm.mean[c]! / norm.std[c]!;
    }
  }
  const flip = draw.flip;
  if (channels === 1) {
    if (draw.hsv || draw.gluoncv || draw.lighting) throw new Error(`${where}: colour jitter and PCA lighting need 3 channels, got 1.`);
    const s0 = scale[0]!;
    const b0 = bias[0]!;
    for (let y = 0; y < height; y++) {
      const row = y * width;
      for (let x = 0; x < width; x++) out[offset + row + x] = src[row + (flip ? width - 1 - x : x)]! * s0 + b0;
    }
    return;
  }
  if (channels !== 3) throw new RangeError(`${where}: channels must be 1 or 3, got ${channels}.`);
  const hsv = draw.hsv;
  const glu = draw.gluoncv;
  if (hsv && glu) throw new Error(`${where}: a draw has either HSV or GluonCV jitter, not both.`);
  const light = draw.lighting;
  const l0 = light ? light[0] : 0;
  const l1 = light ? light[1] : 0;
  const l2 = light ? light[2] : 0;
  const s0 = scale[0]!;
  const s1 = scale[1]!;
  const s2 = scale[2]!;
  const b0 = bias[0]!;
  const b1 = bias[1]!;
  const b2 = bias[2]!;
  const hueF6 = (hsv ? hsv[0] : 1) / 6;
  const satF = hsv ? hsv[1] : 1;
  const valF = hsv ? hsv[2] : 1;
  // GluonCV closed form: b (c s x + c (1 - s) luma + (1 - c) mean luma), then the hue matrix.
  let k1 = 1;
  let k2 = 0;
  let k3 = 0;
  let bright = 1;
  const m = glu?.hueMatrix;
  if (m && m.length !== 9) throw new Error(`${where}: hueMatrix must have 9 values (3x3 row-major), got ${m.length}.`);
  if (glu) {
    let sum = 0;
    for (let i = 0; i < src.length; i += 3) sum += LUMA_R * src[i]! + LUMA_G * src[i + 1]! + LUMA_B * src[i + 2]!;
    const meanLuma = sum / (height * width);
    k1 = glu.contrast * glu.saturation;
    k2 = glu.contrast * (1 - glu.saturation);
    k3 = (1 - glu.contrast) * meanLuma;
    bright = glu.brightness;
  }
  const m00 = m ? m[0]! : 1, m01 = m ? m[1]! : 0, m02 = m ? m[2]! : 0; // prettier-ignore
  const m10 = m ? m[3]! : 0, m11 = m ? m[4]! : 1, m12 = m ? m[5]! : 0; // prettier-ignore
  const m20 = m ? m[6]! : 0, m21 = m ? m[7]! : 0, m22 = m ? m[8]! : 1; // prettier-ignore
  const rowLen = width * 3;
  for (let y = 0; y < height; y++) {
    const rowIn = y * rowLen;
    let o = offset + rowIn;
    for (let x = 0; x < width; x++, o += 3) {
      const i = rowIn + (flip ? width - 1 - x : x) * 3;
      let r = src[i]!;
      let g = src[i + 1]!;
      let b = src[i + 2]!;
      if (hsv) {
        // rgbToHsv on [0, 1] (hue a fraction of the circle), scale, hsvToRgb: as colorJitter('hsv').
        r *= INV255;
        g *= INV255;
        b *= INV255;
        const maxc = r > g ? (r > b ? r : b) : g > b ? g : b;
        const minc = r < g ? (r < b ? r : b) : g < b ? g : b;
        const delta = maxc - minc;
        const inv = 1 / (delta < 1e-30 ? 1e-30 : delta);
        let h: number;
        if (maxc === r) {
          h = (g - b) * inv;
          if (h < 0) h += 6;
        } else if (maxc === g) h = (b - r) * inv + 2;
        else h = (r - g) * inv + 4;
        let hs = h * hueF6;
        hs -= Math.floor(hs);
        let sat = (delta / (maxc < 1e-30 ? 1e-30 : maxc)) * satF;
        sat = sat < 0 ? 0 : sat > 1 ? 1 : sat;
        let v = maxc * valF;
        if (clip) v = v < 0 ? 0 : v > 1 ? 1 : v;
        const h6 = hs * 6;
        const v255 = v * 255;
        const vs = v255 * sat;
        let k = h6 + 5;
        if (k >= 6) k -= 6;
        let ramp = 2 - Math.abs(k - 2);
        r = v255 - vs * (ramp < 0 ? 0 : ramp > 1 ? 1 : ramp);
        k = h6 + 3;
        if (k >= 6) k -= 6;
        ramp = 2 - Math.abs(k - 2);
        g = v255 - vs * (ramp < 0 ? 0 : ramp > 1 ? 1 : ramp);
        k = h6 + 1;
        if (k >= 6) k -= 6;
        ramp = 2 - Math.abs(k - 2);
        b = v255 - vs * (ramp < 0 ? 0 : ramp > 1 ? 1 : ramp);
      } else if (glu) {
        const luma = LUMA_R * r + LUMA_G * g + LUMA_B * b;
        const base = k2 * luma + k3;
        r = bright * (k1 * r + base);
        g = bright * (k1 * g + base);
        b = bright * (k1 * b + base);
        if (m) {
          const r2 = m00 * r + m01 * g + m02 * b;
          const g2 = m10 * r + m11 * g + m12 * b;
          b = m20 * r + m21 * g + m22 * b;
          r = r2;
          g = g2;
        }
        if (clip) {
          r = r < 0 ? 0 : r > 255 ? 255 : r;
          g = g < 0 ? 0 : g > 255 ? 255 : g;
          b = b < 0 ? 0 : b > 255 ? 255 : b;
        }
      }
      out[o] = (r + l0) * s0 + b0;
      out[o + 1] = (g + l1) * s1 + b1;
      out[o + 2] = (b + l2) * s2 + b2;
    }
  }
}

function outputFor(src: Pixels, out: Float32Array | undefined): Float32Array {
  return out ?? new Float32Array(src.length);
}

/** Mirrors HWC pixels left-right (exact), into `out` (a new array by default). */
export function flipPixels(src: Pixels, height: number, width: number, channels: 1 | 3, out?: Float32Array): Float32Array {
  const o = outputFor(src, out);
  applyPixelDraw(src, height, width, { flip: true }, { channels }, o);
  return o;
}

/** The paper's HSV jitter on one RGB image (as `colorJitter({ form: 'hsv' })` with these factors). */
export function hsvJitterPixels(
  src: Pixels,
  height: number,
  width: number,
  factors: { hue: number; saturation: number; value: number },
  { clip = true, out }: { clip?: boolean; out?: Float32Array } = {},
): Float32Array {
  const o = outputFor(src, out);
  applyPixelDraw(src, height, width, { flip: false, hsv: [factors.hue, factors.saturation, factors.value] }, { channels: 3, clip }, o);
  return o;
}

/** GluonCV's brightness/contrast/saturation (and optional YIQ hue rotation, alpha·π) on one RGB image. */
export function gluoncvJitterPixels(
  src: Pixels,
  height: number,
  width: number,
  factors: { brightness: number; contrast: number; saturation: number; hue?: number },
  { clip = true, out }: { clip?: boolean; out?: Float32Array } = {},
): Float32Array {
  const o = outputFor(src, out);
  const { brightness, contrast, saturation, hue } = factors;
  const gluoncv = { brightness, contrast, saturation, ...(hue ? { hueMatrix: yiqHueMatrix(hue).flat() } : {}) };
  applyPixelDraw(src, height, width, { flip: false, gluoncv }, { channels: 3, clip }, o);
  return o;
}

/** Adds a PCA lighting offset (from `pcaLightingOffset(alpha)`) to every pixel of one RGB image. */
export function pcaLightingPixels(src: Pixels, height: number, width: number, offset: readonly [number, number, number], out?: Float32Array): Float32Array {
  const o = outputFor(src, out);
  applyPixelDraw(src, height, width, { flip: false, lighting: offset }, { channels: 3 }, o);
  return o;
}

/** (x - mean) / std per channel on one image. */
export function normalizePixels(
  src: Pixels,
  height: number,
  width: number,
  mean: readonly number[],
  std: readonly number[],
  out?: Float32Array,
): Float32Array {
  const o = outputFor(src, out);
  const channels = mean.length;
  if (channels !== 1 && channels !== 3) throw new Error(`normalizePixels: mean needs 1 or 3 values, got ${channels}.`);
  applyPixelDraw(src, height, width, { flip: false }, { channels, normalize: { mean, std } }, o);
  return o;
}

export interface PixelPipelineOptions {
  /** Default 'paper' (HSV jitter); 'gluoncv' (b/c/s 0.4); 'greyscale' (flip + Fashion-MNIST normalize). */
  preset?: PipelinePreset;
  channels?: 1 | 3;
  /** `false` to skip the flip (default p = 0.5). */
  flip?: boolean | HorizontalFlipOptions;
  /** Overrides the preset's jitter; `false` to skip. */
  colorJitter?: boolean | ColorJitterOptions;
  /** Overrides the preset's lighting; `false` to skip. */
  lighting?: boolean | PcaLightingOptions;
  /** Mean and std per channel; `false` to skip. */
  normalize?: false | NormalizeOptions;
}

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
  /** A batch of same-size images: samples `images.length` draws from `rng` and writes NHWC float32 (into `out` when given). */
  applyBatch(images: readonly Pixels[], height: number, width: number, rng: Rng, out?: Float32Array): Float32Array;
  /** The same steps as tensor transforms (`compose(horizontalFlip, colorJitter, pcaLighting, normalize)`): the reference. */
  readonly tensorTransform: BatchTransform;
}

const PIXEL_KEYS = ['preset', 'channels', 'flip', 'colorJitter', 'lighting', 'normalize'];

/**
 * Flip, colour jitter, PCA lighting and normalize, with {@link trainPipeline}'s presets and
 * defaults, as one fused pass per image over typed arrays. Equals `tensorTransform` on the same
 * rng (to float tolerance); `tensorTransform` followed by mixup equals `applyBatch` then mixup.
 */
export function pixelPipeline(options: PixelPipelineOptions = {}): PixelPipeline {
  const where = 'pixelPipeline';
  checkKeys(options, PIXEL_KEYS, where);
  const preset = presetOf(options.preset, where);
  const channels = channelsOf(options.channels, preset, where);
  const grey = channels === 1;
  const p = PRESETS[preset];
  const pick = <T extends object>(value: boolean | T | undefined, fallback: T | false): T | false =>
    value === undefined || value === true ? fallback : value;
  const jitter = pick(options.colorJitter, grey ? false : p.jitter || PRESETS.paper.jitter);
  const lighting = pick(options.lighting, grey ? false : p.lighting || PRESETS.paper.lighting);
  if (grey && (jitter || lighting || options.colorJitter === true || options.lighting === true)) {
    throw new Error(`${where}: colour jitter and PCA lighting need RGB images, but channels is 1.`);
  }
  const normOption = options.normalize === undefined ? defaultNormalize(channels) : options.normalize;
  const norm = normOption ? { ...defaultNormalize(channels), ...normOption } : false;
  if (norm && (norm.mean!.length !== channels || norm.std!.length !== channels)) {
    throw new Error(`${where}: normalize needs ${channels} mean and std value(s).`);
  }
  const flip = options.flip === undefined || options.flip === true ? {} : options.flip;
  // The tensor steps validate the options (same messages) and are the reference.
  const steps: BatchTransform[] = [];
  if (flip) steps.push(horizontalFlip(flip));
  if (jitter) steps.push(colorJitter(jitter));
  if (lighting) steps.push(pcaLighting(lighting));
  if (norm) steps.push(normalize(norm));
  const tensorTransform = compose(...steps);

  const flipP = flip ? (flip.p ?? 0.5) : 0;
  const form = jitter ? (jitter.form ?? 'hsv') : undefined;
  const jw = `colorJitter(${form})`;
  const brightness = jitter ? factorRange(jitter.brightness ?? 0.4, 'brightness', jw) : [1, 1];
  const saturation = jitter ? factorRange(jitter.saturation ?? 0.4, 'saturation', jw) : [1, 1];
  const contrast = jitter && form === 'gluoncv' ? factorRange(jitter.contrast ?? 0.4, 'contrast', jw) : [1, 1];
  const hue = jitter ? (jitter.hue ?? (form === 'hsv' ? 0.4 : 0)) : 0;
  const hueRange = form === 'hsv' ? factorRange(hue, 'hue', jw) : [1, 1];
  const alphaStd = lighting ? (lighting.alphaStd ?? 0.1) : 0;
  const eigval = lighting ? (lighting.eigval ?? IMAGENET_EIGVAL) : IMAGENET_EIGVAL;
  const eigvec = lighting ? (lighting.eigvec ?? IMAGENET_EIGVEC) : IMAGENET_EIGVEC;
  const passOptions: PixelPassOptions = {
    channels,
    clip: jitter ? (jitter.clip ?? true) : true,
    ...(norm ? { normalize: { mean: norm.mean!, std: norm.std! } } : {}),
  };

  function sample(rng: Rng, n: number): PixelDraw[] {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`${where}.sample: n must be an integer >= 0, got ${n}.`);
    // Same order as the composed tensor transforms: each step draws for the whole batch.
    const draws: PixelDraw[] = Array.from({ length: n }, () => ({ flip: false }));
    if (flip) for (const d of draws) d.flip = rng.bernoulli(flipP);
    if (form === 'hsv') {
      for (const d of draws) {
        d.hsv = [rng.uniform(hueRange[0], hueRange[1]), rng.uniform(saturation[0], saturation[1]), rng.uniform(brightness[0], brightness[1])];
      }
    } else if (form === 'gluoncv') {
      for (const d of draws) {
        const b = rng.uniform(brightness[0], brightness[1]);
        const c = rng.uniform(contrast[0], contrast[1]);
        const s = rng.uniform(saturation[0], saturation[1]);
        d.gluoncv = { brightness: b, contrast: c, saturation: s, ...(hue > 0 ? { hueMatrix: yiqHueMatrix(rng.uniform(-hue, hue)).flat() } : {}) };
      }
    }
    if (lighting) {
      for (const d of draws) {
        const alpha = [rng.normal(0, alphaStd), rng.normal(0, alphaStd), rng.normal(0, alphaStd)];
        d.lighting = pcaLightingOffset(alpha, eigval, eigvec);
      }
    }
    return draws;
  }

  function apply(src: Pixels, height: number, width: number, draw: PixelDraw, out: Float32Array, offset = 0): void {
    applyPixelDraw(src, height, width, draw, passOptions, out, offset);
  }

  return {
    channels,
    sample,
    apply,
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
