import type { Rng } from '@bag-of-tricks/core';

/** A crop rectangle in source pixels: top row `y`, left column `x`, and its size. Integers. */
export interface CropBox {
  readonly y: number;
  readonly x: number;
  readonly height: number;
  readonly width: number;
}

export interface RandomResizedCropOptions {
  /** Range of the crop's area as a fraction of the image's (default [0.08, 1]). */
  scale?: readonly [number, number];
  /** Range of the crop's aspect ratio width/height, sampled log-uniformly (default [3/4, 4/3]). */
  ratio?: readonly [number, number];
  /** Tries before falling back to a centre crop (default 10). */
  attempts?: number;
}

export const DEFAULT_SCALE: readonly [number, number] = [0.08, 1];
export const DEFAULT_RATIO: readonly [number, number] = [3 / 4, 4 / 3];

/** The eval view's crop fraction: centre crop = 0.875 of the resized shorter side (224 of 256, 28 of 32). */
export const EVAL_CROP_FRACTION = 0.875;

/** The one rule for the eval resize: the shorter side before a centre crop of `crop` (256 for 224, 32 for 28). */
export function evalResizeFor(crop: number): number {
  return Math.round(crop / EVAL_CROP_FRACTION);
}

/**
 * ImageNet's image side (He et al. 2019 §2.1, torchvision): the train crop and the eval centre crop. The one
 * place for it: the factories' defaults, the `paper`/`gluoncv` presets and data's image folders read it here.
 */
export const IMAGENET_SIZE = 224;

/** ImageNet's eval resize (the shorter side before the centre crop): `evalResizeFor(IMAGENET_SIZE)`, 256. */
export const IMAGENET_EVAL_RESIZE = evalResizeFor(IMAGENET_SIZE);

/** Python's `round`: halves go to the even neighbour, as torchvision's box arithmetic does. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function checkSize(height: number, width: number, where: string): void {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new RangeError(`${where}: image size must be positive integers, got ${height}x${width} (height x width).`);
  }
}

function checkRange(r: readonly [number, number], name: string, where: string, positive: boolean): void {
  const [lo, hi] = r;
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi || (positive ? lo <= 0 : lo < 0)) {
    throw new RangeError(`${where}: ${name} must be [low, high] with ${positive ? '0 <' : '0 <='} low <= high, got [${lo}, ${hi}].`);
  }
}

/**
 * Samples a random-resized-crop box exactly as torchvision's `RandomResizedCrop.get_params`:
 * area fraction uniform in `scale`, aspect ratio log-uniform in `ratio`, up to `attempts`
 * tries; if none fits, a centre crop whose aspect ratio is clamped into `ratio`.
 * Draw order per try: area, log-ratio, then (on success) top row and left column.
 */
export function sampleRandomResizedCrop(
  rng: Rng,
  height: number,
  width: number,
  { scale = DEFAULT_SCALE, ratio = DEFAULT_RATIO, attempts = 10 }: RandomResizedCropOptions = {},
): CropBox {
  const where = 'sampleRandomResizedCrop';
  checkSize(height, width, where);
  checkRange(scale, 'scale', where, false);
  checkRange(ratio, 'ratio', where, true);
  if (!Number.isInteger(attempts) || attempts < 0) throw new RangeError(`${where}: attempts must be an integer >= 0, got ${attempts}.`);
  const area = height * width;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let t = 0; t < attempts; t++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const y = rng.int(0, height - h + 1);
      const x = rng.int(0, width - w + 1);
      return { y, x, height: h, width: w };
    }
  }
  return fallbackCenterCrop(height, width, ratio);
}

/** torchvision's fallback: the whole image, or its centre with the aspect ratio clamped into `ratio`. */
function fallbackCenterCrop(height: number, width: number, ratio: readonly [number, number]): CropBox {
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    h = roundHalfEven(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    w = roundHalfEven(h * Math.max(ratio[0], ratio[1]));
  }
  return { y: Math.floor((height - h) / 2), x: Math.floor((width - w) / 2), height: h, width: w };
}

/** The centred `cropHeight` x `cropWidth` box, offsets rounded as torchvision's `CenterCrop`. */
export function centerCropBox(height: number, width: number, cropHeight: number, cropWidth: number = cropHeight): CropBox {
  checkSize(height, width, 'centerCropBox');
  checkSize(cropHeight, cropWidth, 'centerCropBox (crop)');
  if (cropHeight > height || cropWidth > width) {
    throw new RangeError(`centerCropBox: crop ${cropHeight}x${cropWidth} is larger than the image ${height}x${width}.`);
  }
  return {
    y: roundHalfEven((height - cropHeight) / 2),
    x: roundHalfEven((width - cropWidth) / 2),
    height: cropHeight,
    width: cropWidth,
  };
}

/** Size after torchvision's `Resize(resize)`: shorter side to `resize`, the longer one scaled and truncated. */
export function resizeShorterSize(height: number, width: number, resize: number): { height: number; width: number } {
  checkSize(height, width, 'resizeShorterSize');
  if (!Number.isInteger(resize) || resize < 1) throw new RangeError(`resizeShorterSize: resize must be a positive integer, got ${resize}.`);
  if (height <= width) return { height: resize, width: Math.trunc((resize * width) / height) };
  return { height: Math.trunc((resize * height) / width), width: resize };
}

export interface ResizeShorterCenterCropOptions {
  /** Shorter side after resizing (default `IMAGENET_EVAL_RESIZE`, 256). */
  resize?: number;
  /** Side of the square centre crop taken from the resized image (default `IMAGENET_SIZE`, 224; 224/256 = 0.875). */
  crop?: number;
}

/**
 * The evaluation crop (resize the shorter side to `resize`, centre-crop `crop` x `crop`) as one
 * box in SOURCE pixels: crop this box and resize it to `crop` x `crop` to get the same view
 * without the intermediate resize. Sides and offsets are rounded to whole pixels.
 */
export function resizeShorterCenterCropBox(
  height: number,
  width: number,
  { resize = IMAGENET_EVAL_RESIZE, crop = IMAGENET_SIZE }: ResizeShorterCenterCropOptions = {},
): CropBox {
  checkSize(height, width, 'resizeShorterCenterCropBox');
  if (!Number.isInteger(resize) || !Number.isInteger(crop) || crop < 1 || resize < crop) {
    throw new RangeError(`resizeShorterCenterCropBox: need integers 1 <= crop <= resize, got crop ${crop}, resize ${resize}.`);
  }
  const side = Math.max(1, Math.min(Math.min(height, width), roundHalfEven((crop * Math.min(height, width)) / resize)));
  return centerCropBox(height, width, side, side);
}
