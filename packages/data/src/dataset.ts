import type { Rng } from '@bag-of-tricks/core';
import { applyPixelDrawResized } from '@bag-of-tricks/augment';

/**
 * A sample still to be resized: `pixels` hold a `height` x `width` source region, and the example
 * is `box` (in region pixels) resized to the dataset's size by bilinear sampling at half-pixel
 * centres (augment's `cropAndResizeBoxes`), mirrored when `flip`. The loader does the resize in its
 * per-image pass (fused with `pixelTransform`); `resolveSample` does it for one sample.
 */
export interface SampleCrop {
  readonly height: number;
  readonly width: number;
  readonly box: { readonly y: number; readonly x: number; readonly height: number; readonly width: number };
  readonly flip: boolean;
}

/**
 * One decoded example: HWC pixels in [0, 255] (row-major, channels last) and its class index.
 * With `crop`, the pixels are a source region to resize (see {@link SampleCrop}).
 */
export interface Sample {
  readonly pixels: Uint8Array | Float32Array;
  readonly label: number;
  readonly crop?: SampleCrop;
}

/** What a dataset returns instead of a sample when it skips a corrupt file (`skipCorrupt: true`). */
export interface SkippedSample {
  readonly skipped: true;
  readonly file: string;
  readonly reason: string;
}

/**
 * A source of labelled images of one fixed output size. `get` may be synchronous (in-memory
 * arrays) or asynchronous (files decoded on demand); `rng` drives any per-sample randomness,
 * such as the random-resized crop of an image folder, and in-memory data ignores it.
 */
export interface Dataset {
  readonly size: number;
  readonly numClasses: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly classNames?: readonly string[];
  get(index: number, rng: Rng): Sample | SkippedSample | Promise<Sample | SkippedSample>;
}

/** True when a dataset skipped this example. */
export function isSkipped(sample: Sample | SkippedSample): sample is SkippedSample {
  return (sample as SkippedSample).skipped === true;
}

/** A dataset held in memory as one pixel array, e.g. read from IDX files. */
export interface InMemoryDataset extends Dataset {
  /** All images, [size, height, width, channels] row-major. */
  readonly images: Uint8Array | Float32Array;
  readonly labels: Uint8Array | Int32Array;
  get(index: number): Sample;
}

export interface InMemoryDatasetOptions {
  images: Uint8Array | Float32Array;
  labels: Uint8Array | Int32Array;
  height: number;
  width: number;
  channels?: number;
  /** Default: classNames.length, else the largest label + 1. */
  numClasses?: number;
  classNames?: readonly string[];
}

/** Wraps arrays of pixels and labels as a {@link Dataset}; `get` returns views, not copies. */
export function inMemoryDataset(options: InMemoryDatasetOptions): InMemoryDataset {
  const { images, labels, height, width, channels = 1, classNames } = options;
  const pixelsPer = height * width * channels;
  if (!(pixelsPer > 0) || !Number.isInteger(pixelsPer)) {
    throw new RangeError(`inMemoryDataset: height, width and channels must be positive integers, got ${height}x${width}x${channels}.`);
  }
  if (images.length !== labels.length * pixelsPer) {
    throw new Error(
      `inMemoryDataset: ${labels.length} labels need ${labels.length * pixelsPer} pixel values (${height}x${width}x${channels} each), got ${images.length}.`,
    );
  }
  let maxLabel = -1;
  for (let i = 0; i < labels.length; i++) maxLabel = Math.max(maxLabel, labels[i] as number);
  const numClasses = options.numClasses ?? classNames?.length ?? maxLabel + 1;
  if (maxLabel >= numClasses) {
    throw new RangeError(`inMemoryDataset: label ${maxLabel} is out of range for ${numClasses} classes.`);
  }
  const size = labels.length;
  return {
    size,
    numClasses,
    height,
    width,
    channels,
    ...(classNames ? { classNames } : {}),
    images,
    labels,
    get(index: number): Sample {
      if (!Number.isInteger(index) || index < 0 || index >= size) {
        throw new RangeError(`get(${index}): index out of range for a dataset of ${size} examples.`);
      }
      return { pixels: images.subarray(index * pixelsPer, (index + 1) * pixelsPer), label: labels[index] as number };
    },
  };
}

/**
 * The sample's pixels at the dataset's size: `sample.pixels` as they are, or, for a sample with a
 * `crop`, its box resized (bilinear, float32 0-255) as the loader would put it in a batch.
 */
export function resolveSample(sample: Sample, dataset: Pick<Dataset, 'height' | 'width' | 'channels'>): Uint8Array | Float32Array {
  const { crop } = sample;
  if (!crop) return sample.pixels;
  const { height, width, channels } = dataset;
  if (channels !== 1 && channels !== 3) throw new RangeError(`resolveSample: channels must be 1 or 3, got ${channels}.`);
  const out = new Float32Array(height * width * channels);
  applyPixelDrawResized(sample.pixels, crop.height, crop.width, crop.box, height, width, { flip: crop.flip }, { channels }, out);
  return out;
}
