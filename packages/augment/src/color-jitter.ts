import type { BatchTransform } from '@bag-of-tricks/core';
import * as tf from '@tensorflow/tfjs-core';
import { factorRange, type FactorRange } from './checks';
import { opTransform, perImage, type AugmentOp } from './ops';

/** floor-mod for a positive divisor, through floor (tf.mod is slow on wasm). */
function modPositive(x: tf.Tensor, m: number): tf.Tensor {
  return tf.sub(x, tf.mul(tf.floor(tf.div(x, m)), m));
}

/** Planes r, g, b (any equal shapes, values in [0, 1]) to h, s, v planes (hue as a fraction of the circle). */
function planesToHsv(r: tf.Tensor, g: tf.Tensor, b: tf.Tensor, maxc: tf.Tensor, minc: tf.Tensor): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const delta = tf.sub(maxc, minc);
  // A grey pixel has delta 0: every candidate below is then 0/tiny = 0 (+2, +4), and since r is
  // the maximum the first is taken, so its hue is 0 without a separate test.
  const safeDelta = tf.clipByValue(delta, 1e-30, 1e30); // clipByValue: scalar-broadcast maximum is slow on wasm
  const hrRaw = tf.div(tf.sub(g, b), safeDelta); // in [-1, 1]
  const hr = tf.where(tf.less(hrRaw, 0), tf.add(hrRaw, 6), hrRaw);
  const hg = tf.add(tf.div(tf.sub(b, r), safeDelta), 2);
  const hb = tf.add(tf.div(tf.sub(r, g), safeDelta), 4);
  // Ties at the maximum give equal candidates (hue is continuous), so the order of the tests is free.
  const h = tf.mul(tf.where(tf.equal(maxc, r), hr, tf.where(tf.equal(maxc, g), hg, hb)), 1 / 6);
  const s = tf.div(delta, tf.clipByValue(maxc, 1e-30, 1e30)); // black: 0 / tiny = 0
  return [h, s, maxc];
}

/** h, s, v planes back to r, g, b: c_n = v - v s max(0, min(k, 4 - k, 1)), k = (n + 6h) mod 6. */
function hsvToPlanes(h: tf.Tensor, s: tf.Tensor, v: tf.Tensor): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const h6 = tf.mul(h, 6);
  const vs = tf.mul(v, s);
  const channel = (n: number) => {
    const k = modPositive(tf.add(h6, n), 6);
    const ramp = tf.clipByValue(tf.sub(2, tf.abs(tf.sub(k, 2))), 0, 1); // min(k, 4 - k) = 2 - |k - 2|
    return tf.sub(v, tf.mul(vs, ramp));
  };
  return [channel(5), channel(3), channel(1)];
}

/**
 * NHWC (3 channels) to planes [3, N, H*W]: channel slices of a planar tensor are contiguous,
 * which on wasm is several times faster than tf.split / tf.concat on the last axis.
 */
function toPlanes(x: tf.Tensor4D): [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D] {
  const [n, h, w] = x.shape;
  return tf.unstack(tf.transpose(tf.reshape(x, [n, h * w, 3]), [2, 0, 1])) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
}

/** HSV planes [N, H*W] of NHWC RGB in [0, 1]; max and min come from channel reductions (elementwise
 * tf.maximum / tf.minimum are slow on wasm). */
function imageToHsvPlanes(x: tf.Tensor4D): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const [n, h, w] = x.shape;
  const maxc = tf.reshape(tf.max(x, 3), [n, h * w]);
  const minc = tf.reshape(tf.min(x, 3), [n, h * w]);
  return planesToHsv(...toPlanes(x), maxc, minc);
}

function fromPlanes(planes: tf.Tensor[], shape: readonly [number, number, number, number]): tf.Tensor4D {
  return tf.reshape(tf.transpose(tf.stack(planes), [1, 2, 0]), [...shape]) as tf.Tensor4D;
}

/**
 * RGB in [0, 1] to HSV, each in [0, 1] (hue as a fraction of the circle). NHWC, 3 channels.
 * Grey pixels get hue 0 and black ones saturation 0.
 */
export function rgbToHsv(rgb: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => fromPlanes(imageToHsvPlanes(rgb), rgb.shape));
}

/** HSV (each in [0, 1]) back to RGB in [0, 1]. NHWC, 3 channels. */
export function hsvToRgb(hsv: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => fromPlanes(hsvToPlanes(...toPlanes(hsv)), hsv.shape));
}

export interface ColorJitterOptions {
  /**
   * `'hsv'` (the paper: scale hue, saturation and brightness (HSV value) by coefficients in
   * [0.6, 1.4]) or `'gluoncv'` (GluonCV/MXNet ColorJitterAug: brightness, contrast and
   * saturation as linear blends, optional YIQ hue rotation). Default `'hsv'`.
   */
  form?: 'hsv' | 'gluoncv';
  /** c (factors in [1 - c, 1 + c]) or [low, high]; 0 turns it off. Default 0.4. */
  brightness?: FactorRange;
  /** GluonCV form only: blend toward the image's mean luma. Default 0.4 there. */
  contrast?: FactorRange;
  /** Default 0.4. */
  saturation?: FactorRange;
  /**
   * HSV form: the hue is SCALED by a factor in [1 - c, 1 + c] (the paper's words), wrapping
   * around the circle; default 0.4. GluonCV form: rotation by up to ±c·180° in YIQ space
   * (MXNet HueJitterAug); default 0.
   */
  hue?: number;
  /** Clip the result to [0, 255] (default true). */
  clip?: boolean;
}

const LUMA = [0.299, 0.587, 0.114] as const;
const TO_YIQ = [
  [0.299, 0.587, 0.114],
  [0.596, -0.274, -0.321],
  [0.211, -0.523, 0.311],
] as const;
const FROM_YIQ = [
  [1.0, 0.956, 0.621],
  [1.0, -0.272, -0.647],
  [1.0, -1.107, 1.705],
] as const;

/** MXNet HueJitterAug's colour matrix for a rotation of `alpha`·π: rgb_out = M rgb_in. */
export function yiqHueMatrix(alpha: number): number[][] {
  const u = Math.cos(alpha * Math.PI);
  const w = Math.sin(alpha * Math.PI);
  const bt = [
    [1, 0, 0],
    [0, u, -w],
    [0, w, u],
  ];
  const mul = (a: readonly (readonly number[])[], b: readonly (readonly number[])[]) =>
    a.map((row) => b[0]!.map((_, j) => row.reduce((acc, v, k) => acc + v * b[k]![j]!, 0)));
  return mul(mul(FROM_YIQ, bt), TO_YIQ);
}

/** Each form's defaults (the paper's HSV jitter; GluonCV's ColorJitterAug). */
export const COLOR_JITTER_DEFAULTS = Object.freeze({
  hsv: Object.freeze({ form: 'hsv', brightness: 0.4, saturation: 0.4, hue: 0.4, clip: true }),
  gluoncv: Object.freeze({ form: 'gluoncv', brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0, clip: true }),
} as const);

/** One image's jitter: HSV scale factors [hue, saturation, value], or GluonCV's factors and hue matrix. */
export type ColorJitterDraw =
  | { readonly form: 'hsv'; readonly factors: readonly [number, number, number] }
  | { readonly form: 'gluoncv'; readonly brightness: number; readonly contrast: number; readonly saturation: number; readonly hueMatrix?: number[][] };

function hueOption(hue: number, form: string): number {
  if (!(hue >= 0) || (form === 'gluoncv' && hue > 1)) {
    throw new RangeError(`colorJitter: hue must be ${form === 'gluoncv' ? 'in [0, 1]' : '>= 0'}, got ${hue}.`);
  }
  return hue;
}

/** Colour jitter as an augmentation op: one set of coefficients per image (see {@link ColorJitterOptions}). */
export function colorJitterOp(options: ColorJitterOptions = {}): AugmentOp<ColorJitterDraw> {
  const form = options.form ?? 'hsv';
  if (form !== 'hsv' && form !== 'gluoncv') throw new Error(`colorJitter: form must be 'hsv' or 'gluoncv', got ${JSON.stringify(form)}.`);
  const where = `colorJitter(${form})`;
  const defaults = COLOR_JITTER_DEFAULTS[form];
  const clip = options.clip ?? defaults.clip;
  const brightness = factorRange(options.brightness ?? defaults.brightness, 'brightness', where);
  const saturation = factorRange(options.saturation ?? defaults.saturation, 'saturation', where);
  const hue = hueOption(options.hue ?? defaults.hue, form);
  if (form === 'hsv') {
    if (options.contrast !== undefined && options.contrast !== 0) {
      throw new Error(`${where}: the HSV form has no contrast; use form: 'gluoncv' for contrast jitter.`);
    }
    const hueRange = factorRange(hue, 'hue', where);
    return {
      name: where,
      channels: 3,
      options: { form, brightness, saturation, hue, clip },
      sample: (rng, n) =>
        perImage(n, () => ({
          form,
          factors: [rng.uniform(hueRange[0], hueRange[1]), rng.uniform(saturation[0], saturation[1]), rng.uniform(brightness[0], brightness[1])] as const,
        })),
      applyTensor(images, draws) {
        const n = draws.length;
        const factors = draws.map((d) => (d as Extract<ColorJitterDraw, { form: 'hsv' }>).factors);
        const [h, s, v] = imageToHsvPlanes(tf.mul(images, 1 / 255) as tf.Tensor4D);
        const coefficient = (k: number) => tf.tensor2d(factors.map((f) => f[k]!), [n, 1]);
        const hs = tf.mul(h, coefficient(0));
        const s2 = tf.clipByValue(tf.mul(s, coefficient(1)), 0, 1);
        const v2 = tf.mul(v, coefficient(2));
        const rgb = hsvToPlanes(tf.sub(hs, tf.floor(hs)), s2, clip ? tf.clipByValue(v2, 0, 1) : v2);
        return fromPlanes(rgb.map((c) => tf.mul(c, 255)), images.shape);
      },
      applyPixels(draw, into) {
        into.hsv = (draw as Extract<ColorJitterDraw, { form: 'hsv' }>).factors;
      },
      pixelOptions: { clip },
    };
  }
  const contrast = factorRange(options.contrast ?? COLOR_JITTER_DEFAULTS.gluoncv.contrast, 'contrast', where);
  type GluonDraw = Extract<ColorJitterDraw, { form: 'gluoncv' }>;
  return {
    name: where,
    channels: 3,
    options: { form, brightness, contrast, saturation, hue, clip },
    sample: (rng, n) =>
      perImage(n, (): GluonDraw => {
        const b = rng.uniform(brightness[0], brightness[1]);
        const c = rng.uniform(contrast[0], contrast[1]);
        const s = rng.uniform(saturation[0], saturation[1]);
        return { form, brightness: b, contrast: c, saturation: s, ...(hue > 0 ? { hueMatrix: yiqHueMatrix(rng.uniform(-hue, hue)) } : {}) };
      }),
    applyTensor(x, all) {
      const draws = all as readonly GluonDraw[];
      const n = draws.length;
      const col = (v: number[]) => tf.tensor4d(v, [n, 1, 1, 1]);
      // MXNet: brightness x -> b x; contrast x -> c x + (1 - c) mean(luma); saturation
      // x -> s x + (1 - s) luma(x). The luma weights sum to 1, so luma is unchanged by saturation and
      // shifts with contrast exactly as x does: the three maps commute, and MXNet's random order
      // cannot change the result. Composed: b (c s x + c (1 - s) luma + (1 - c) mean luma).
      const [, height, width] = x.shape;
      const luma = tf.reshape(tf.matMul(tf.reshape(x, [n * height * width, 3]), tf.tensor2d([...LUMA], [3, 1])), [n, height, width, 1]);
      const meanLuma = tf.mean(luma, [1, 2], true);
      const c = col(draws.map((d) => d.contrast));
      const s = col(draws.map((d) => d.saturation));
      const oneMinus = (t: tf.Tensor) => tf.sub(1, t);
      let out: tf.Tensor = tf.add(tf.add(tf.mul(tf.mul(c, s), x), tf.mul(tf.mul(c, oneMinus(s)), luma)), tf.mul(oneMinus(c), meanLuma));
      out = tf.mul(col(draws.map((d) => d.brightness)), out);
      if (hue > 0) {
        // Applied after the others (MXNet's order is random; the YIQ rotation nearly commutes).
        // Transposed, so that pixels (row vectors) times it give M rgb.
        const m = tf.tensor3d(draws.flatMap((d) => d.hueMatrix!.flatMap((_, r, rows) => rows.map((row) => row[r]!))), [n, 3, 3]);
        out = tf.reshape(tf.matMul(tf.reshape(out, [n, height * width, 3]) as tf.Tensor3D, m), [n, height, width, 3]);
      }
      if (clip) out = tf.clipByValue(out, 0, 255);
      return out as tf.Tensor4D;
    },
    applyPixels(draw, into) {
      const d = draw as GluonDraw;
      into.gluoncv = { brightness: d.brightness, contrast: d.contrast, saturation: d.saturation, ...(d.hueMatrix ? { hueMatrix: d.hueMatrix.flat() } : {}) };
    },
    pixelOptions: { clip },
  };
}

/**
 * Colour jitter, one set of coefficients per image. See {@link ColorJitterOptions} for the two forms.
 * Images are RGB in [0, 255]; 3 channels required.
 */
export function colorJitter(options: ColorJitterOptions = {}): BatchTransform {
  return opTransform(colorJitterOp(options));
}
