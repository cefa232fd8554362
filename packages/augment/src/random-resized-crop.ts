import type { Batch, BatchTransform } from '@bag-of-tricks/core';
import * as tf from '@tensorflow/tfjs-core';
import { checkBatch, tidyBatch } from './checks';
import { centerCropBox, IMAGENET_EVAL_RESIZE, IMAGENET_SIZE, resizeShorterSize, sampleRandomResizedCrop, type CropBox, type RandomResizedCropOptions } from './crop-box';

export type Size = number | readonly [number, number];

function toSize(size: Size, where: string): [number, number] {
  const [h, w] = typeof size === 'number' ? [size, size] : size;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) {
    throw new RangeError(`${where}: size must be a positive integer or [height, width], got ${JSON.stringify(size)}.`);
  }
  return [h, w];
}

/**
 * Crops box `boxes[n]` out of image n and resizes it to `size` with bilinear sampling at half-pixel
 * centres (OpenCV / PyTorch `align_corners=False`, no antialiasing), through one
 * `tf.image.cropAndResize` call. The image is edge-padded by one pixel first so samples that fall
 * up to half a pixel outside the IMAGE take the edge value, as PyTorch's clamping does. Inside the
 * image, samples are never clamped to the crop: when a crop is upscaled, its outermost half
 * pixel blends with the neighbours just outside the crop (torchvision's crop-then-resize repeats
 * the crop's edge instead). Downscaled crops match torchvision exactly.
 */
export function cropAndResizeBoxes(images: tf.Tensor4D, boxes: readonly CropBox[], size: Size): tf.Tensor4D {
  const where = 'cropAndResizeBoxes';
  const [outH, outW] = toSize(size, where);
  const [n, height, width] = images.shape;
  if (boxes.length !== n) throw new Error(`${where}: ${boxes.length} boxes for ${n} images; give one box per image.`);
  const coords = new Float32Array(n * 4);
  boxes.forEach((b, k) => {
    if (b.height <= 0 || b.width <= 0 || b.y < 0 || b.x < 0 || b.y + b.height > height || b.x + b.width > width) {
      throw new RangeError(`${where}: box ${k} ${JSON.stringify(b)} does not lie inside the ${height}x${width} image.`);
    }
    // cropAndResize samples y1 (H - 1) + k (y2 - y1) (H - 1) / (out - 1); half-pixel centres want
    // y + (k + 0.5) h / out - 0.5 (+ 1 for the padding). Solve for y1 and y2.
    const sy = b.height / outH;
    const sx = b.width / outW;
    const y1 = b.y + 0.5 * sy - 0.5 + 1;
    const x1 = b.x + 0.5 * sx - 0.5 + 1;
    const hp = height + 1; // (H + 2) - 1
    const wp = width + 1;
    coords[k * 4] = y1 / hp;
    coords[k * 4 + 1] = x1 / wp;
    coords[k * 4 + 2] = (y1 + (outH - 1) * sy) / hp;
    coords[k * 4 + 3] = (x1 + (outW - 1) * sx) / wp;
  });
  return tf.tidy(() => {
    // Symmetric padding of 1 repeats the edge pixel.
    const padded = tf.mirrorPad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], 'symmetric');
    const boxInd = tf.tensor1d(Array.from({ length: n }, (_, i) => i), 'int32');
    return tf.image.cropAndResize(padded, tf.tensor2d(coords, [n, 4]), boxInd, [outH, outW], 'bilinear');
  });
}

export interface RandomResizedCropTransformOptions extends RandomResizedCropOptions {
  /** Output size (default `IMAGENET_SIZE`, 224). */
  size?: Size;
}

/**
 * Random-resized crop, per image: a box from {@link sampleRandomResizedCrop} (torchvision's
 * sampler), then a bilinear resize to `size` (see {@link cropAndResizeBoxes}).
 */
export function randomResizedCrop({ size = IMAGENET_SIZE, ...boxOptions }: RandomResizedCropTransformOptions = {}): BatchTransform {
  toSize(size, 'randomResizedCrop');
  return (batch: Batch, rng) =>
    tidyBatch(() => {
      checkBatch(batch, 'randomResizedCrop');
      const [n, height, width] = batch.images.shape;
      const boxes = Array.from({ length: n }, () => sampleRandomResizedCrop(rng, height, width, boxOptions));
      return { images: cropAndResizeBoxes(batch.images, boxes, size), labels: tf.clone(batch.labels) };
    });
}

export interface ResizeShorterCenterCropTransformOptions {
  /** Shorter side after resizing (default `IMAGENET_EVAL_RESIZE`, 256); `false` skips the resize. */
  resize?: number | false;
  /** Side of the square centre crop (default `IMAGENET_SIZE`, 224). */
  crop?: number;
}

/**
 * Evaluation view: bilinear resize of the shorter side to `resize` (half-pixel centres, no
 * antialiasing: torchvision `Resize(resize, antialias=False)` on tensors), then a centre
 * `crop` x `crop` (torchvision `CenterCrop`). Deterministic; the rng is not used.
 */
export function resizeShorterCenterCrop({ resize = IMAGENET_EVAL_RESIZE, crop = IMAGENET_SIZE }: ResizeShorterCenterCropTransformOptions = {}): BatchTransform {
  toSize(crop, 'resizeShorterCenterCrop');
  if (resize !== false) toSize(resize, 'resizeShorterCenterCrop (resize)');
  return (batch: Batch) =>
    tidyBatch(() => {
      checkBatch(batch, 'resizeShorterCenterCrop');
      const [, height, width] = batch.images.shape;
      let images = batch.images;
      let [h, w] = [height, width];
      if (resize !== false) {
        ({ height: h, width: w } = resizeShorterSize(height, width, resize));
        if (h !== height || w !== width) images = tf.image.resizeBilinear(images, [h, w], false, true);
      }
      if (crop > h || crop > w) {
        throw new RangeError(`resizeShorterCenterCrop: crop ${crop} is larger than the ${h}x${w} image${resize !== false ? ' after resizing' : ''}.`);
      }
      const box = centerCropBox(h, w, crop, crop);
      return { images: tf.slice(images, [0, box.y, box.x, 0], [-1, crop, crop, -1]), labels: tf.clone(batch.labels) };
    });
}

