import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import sharp from 'sharp';
import type { Rng } from '@bag-of-tricks/core';
import { DEFAULT_RATIO, DEFAULT_SCALE, evalResizeFor, IMAGENET_SIZE, RESAMPLE_DEFAULTS, resizeShorterCenterCropBox, sampleRandomResizedCrop, type CropBox } from '@bag-of-tricks/augment';
import type { Dataset, Sample, SkippedSample } from './dataset';
import { CORRUPT_FIX, pixelLimitProblem, resolveLimitInputPixels, sniffImageFormat, TAIL_BYTES, TOO_LARGE_FIX, truncationProblem } from './image-checks';

export interface ImageFolderOptions {
  /**
   * 'train': random-resized crop sampled on the image's real size, then resized to size x size.
   * 'eval': resize the shorter side to `resize`, centre-crop size x size. 'full': the whole image
   * squashed to size x size (no crop). Default 'train'.
   */
  mode?: 'train' | 'eval' | 'full';
  /** Output side in pixels (default augment's `IMAGENET_SIZE`, 224). */
  size?: number;
  /** Eval: the shorter side before the centre crop (default augment's `evalResizeFor(size)`, round(size / 0.875): 256 for 224). */
  resize?: number;
  /** Train: area fraction range of the crop (default [0.08, 1]). */
  scale?: readonly [number, number];
  /** Train: aspect-ratio range, sampled log-uniformly (default [3/4, 4/3]). */
  ratio?: readonly [number, number];
  /**
   * Train mode: mirror the crop horizontally with probability p (true = 0.5) inside sharp, drawn
   * from the sample's rng after the box. Cheaper than a tensor flip; leave `horizontalFlip` out
   * of the batch transform when you use it. Default false.
   */
  flip?: boolean | { p: number };
  /**
   * How the crop becomes size x size. `'lanczos3'` (default): sharp's extract + resize with its
   * lanczos3 kernel, antialiased; `get` returns the finished size x size bytes. `'bilinear'`:
   * sharp decodes only the crop's region (plus one pixel of margin), and the loader resizes it by
   * bilinear sampling at half-pixel centres in its per-image pass, fused with `pixelTransform`:
   * the same values as augment's tensor `randomResizedCrop` / `cropAndResizeBoxes` (no
   * antialiasing, so large crops alias as torchvision's tensor path with antialias=False does),
   * and about 1.6 ms less CPU per 224 x 224 ImageNet crop. `get` then returns the region with a
   * `crop` (see `SampleCrop`; `resolveSample` resizes one).
   */
  resample?: 'lanczos3' | 'bilinear';
  /** Decode to one grey channel instead of RGB. */
  greyscale?: boolean;
  /** Skip corrupt or truncated files (the loader counts and reports them) instead of throwing. */
  skipCorrupt?: boolean;
  /** File extensions taken as images (default .jpg .jpeg .png .webp, any case). */
  extensions?: readonly string[];
  /**
   * Most pixels (width x height) an image may have; a larger one is refused before it is decoded, and
   * sharp gets the same limit (default `DEFAULT_LIMIT_INPUT_PIXELS`, Pillow's 89,478,485). Not skipped by
   * `skipCorrupt`: raise the limit or downscale the file.
   */
  limitInputPixels?: number;
  /** Files to leave out, e.g. the corrupt ones `checkImageFolders` found with `skipCorrupt` (absolute paths). */
  exclude?: Iterable<string>;
}

/**
 * `imageFolderDataset`'s defaults, written once. `resample` is augment's `RESAMPLE_DEFAULTS.dataset`
 * (lanczos3: used alone, the dataset returns finished pixels); the trainer, whose loader always runs the
 * per-image pass, defaults to `RESAMPLE_DEFAULTS.loader` (bilinear). The crop scale is augment's [0.08, 1] for
 * RGB and greyscale alike (the trainer's image-folder runs have always used it): augment's greyscale preset
 * ([0.35, 1]) is for 28 px in-memory images such as Fashion-MNIST. The eval resize is augment's
 * `evalResizeFor(size)` (size / 0.875); the size is augment's `IMAGENET_SIZE`.
 */
export const IMAGE_FOLDER_DEFAULTS = Object.freeze({
  size: IMAGENET_SIZE,
  resample: RESAMPLE_DEFAULTS.dataset,
  scale: DEFAULT_SCALE,
  ratio: DEFAULT_RATIO,
});

/** A dataset over `root/<class>/**\/<image>`: classes are the sorted subfolder names. */
export interface ImageFolderDataset extends Dataset {
  readonly classNames: readonly string[];
  /** Absolute paths of the images, sorted by class then path. */
  readonly files: readonly string[];
  readonly labels: Int32Array;
  get(index: number, rng: Rng): Promise<Sample | SkippedSample>;
}

export const DEFAULT_IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];

function listImages(dir: string, extensions: Set<string>): string[] {
  const out: string[] = [];
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    const isDir = entry.isDirectory() || (entry.isSymbolicLink() && statSync(path).isDirectory());
    if (isDir) out.push(...listImages(path, extensions));
    else if (extensions.has(extname(entry.name).toLowerCase())) out.push(path);
  }
  return out;
}

/** An image folder's listing: class names (sorted subfolders), and every image with its class. */
export interface ImageFolderListing {
  readonly classNames: readonly string[];
  /** Absolute paths, sorted by class then path. */
  readonly files: readonly string[];
  readonly labels: Int32Array;
}

/**
 * Lists `root/<class>/**\/<image>`: the one rule for which folders are classes and which files are images,
 * shared by `imageFolderDataset` and `checkImageFolders`. Throws when root is unreadable or has no class folder;
 * an empty class is listed (with no files), for the caller to judge.
 */
export function listImageFolder(root: string, extensions: readonly string[] = DEFAULT_IMAGE_EXTENSIONS, caller = 'imageFolderDataset'): ImageFolderListing {
  let classNames: string[];
  try {
    classNames = readdirSync(root, { withFileTypes: true })
      .filter((e) => e.isDirectory() || (e.isSymbolicLink() && statSync(join(root, e.name)).isDirectory()))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    throw new Error(`${caller}: cannot read ${root} (${(err as Error).message}).`);
  }
  if (classNames.length === 0) throw new Error(`${caller}: ${root} has no class subfolders; expected root/<class>/<image>.`);
  const wanted = new Set(extensions.map((e) => e.toLowerCase()));
  const files: string[] = [];
  const labels: number[] = [];
  classNames.forEach((name, label) => {
    for (const file of listImages(join(root, name), wanted)) {
      files.push(file);
      labels.push(label);
    }
  });
  return { classNames, files, labels: Int32Array.from(labels) };
}

/**
 * Width and height from a JPEG's SOF marker or a PNG's IHDR, without decoding (saves a sharp
 * metadata() round trip per image). null when the header is not one of those or not understood:
 * the caller then asks sharp. Like sharp's metadata(), these are the stored (pre-EXIF-orientation) sizes.
 */
export function imageHeaderSize(bytes: Uint8Array): { width: number; height: number } | null {
  const n = bytes.length;
  if (n >= 24 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47 && bytes[12] === 0x49 && bytes[13] === 0x48) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const width = view.getUint32(16);
    const height = view.getUint32(20);
    return width > 0 && height > 0 ? { width, height } : null;
  }
  if (n < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
  let i = 2;
  while (i + 9 < n) {
    if (bytes[i] !== 0xff) return null;
    const marker = bytes[i + 1] as number;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2; // no length
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return null; // end of image / start of scan before any SOF
    const length = ((bytes[i + 2] as number) << 8) | (bytes[i + 3] as number);
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const height = ((bytes[i + 5] as number) << 8) | (bytes[i + 6] as number);
      const width = ((bytes[i + 7] as number) << 8) | (bytes[i + 8] as number);
      return width > 0 && height > 0 ? { width, height } : null;
    }
    if (length < 2) return null;
    i += 2 + length;
  }
  return null;
}

/**
 * Reads a whole file synchronously: from the page cache that costs ~20 µs of CPU against ~100 µs
 * for fs.promises.readFile's four thread-pool round trips (open, stat, read, close), and the
 * decode that follows dominates the wall time either way.
 */
function readImageFile(file: string): Buffer {
  return readFileSync(file);
}

/** A file that cannot be decoded; the message names the file, the problem and the fix. */
export class ImageDecodeError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}; ${CORRUPT_FIX}.`);
    this.name = 'ImageDecodeError';
  }
}

/** An image over `limitInputPixels`, refused before it is decoded (never skipped by `skipCorrupt`). */
export class ImageTooLargeError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}; ${TOO_LARGE_FIX}.`);
    this.name = 'ImageTooLargeError';
  }
}

/**
 * sharp's reason for a failed decode, led by what the bytes show (a cut-off file) when they show it: with
 * several decodes in flight libvips often loses its message and sharp says only "Unknown error".
 */
function describeDecodeFailure(bytes: Uint8Array, err: unknown): string {
  const message = (err as Error).message.replace(/\s+$/, '');
  const format = sniffImageFormat(bytes);
  const truncated = truncationProblem(format, bytes.subarray(0, 16), bytes.subarray(Math.max(0, bytes.length - TAIL_BYTES)), bytes.length);
  if (truncated) return `${truncated}; sharp: ${message}`;
  if (bytes.length === 0) return 'empty file (0 bytes)';
  if (/^Unknown error\.?$/.test(message)) {
    return `${format ? `damaged ${format.toUpperCase()} data` : 'unrecognised image data'}; libvips gave no reason ("Unknown error")`;
  }
  return message;
}

/** Rounds a box to whole pixels inside the image; sharp's extract wants integers. */
function clampBox(box: CropBox, height: number, width: number): { left: number; top: number; width: number; height: number } {
  const top = Math.min(Math.max(0, Math.round(box.y)), height - 1);
  const left = Math.min(Math.max(0, Math.round(box.x)), width - 1);
  return {
    top,
    left,
    height: Math.min(Math.max(1, Math.round(box.height)), height - top),
    width: Math.min(Math.max(1, Math.round(box.width)), width - left),
  };
}

/**
 * Images in class subfolders (torchvision's ImageFolder layout), decoded with sharp. Cropping
 * happens on the decoded image before the tensor exists: train mode samples augment's
 * random-resized-crop box on the real image size and runs sharp's extract + resize.
 */
export function imageFolderDataset(root: string, options: ImageFolderOptions = {}): ImageFolderDataset {
  const {
    mode = 'train',
    size = IMAGE_FOLDER_DEFAULTS.size,
    greyscale = false,
    skipCorrupt = false,
    scale = IMAGE_FOLDER_DEFAULTS.scale,
    ratio = IMAGE_FOLDER_DEFAULTS.ratio,
  } = options;
  const resize = options.resize ?? evalResizeFor(size);
  const resample = options.resample ?? IMAGE_FOLDER_DEFAULTS.resample;
  if (resample !== 'lanczos3' && resample !== 'bilinear') {
    throw new Error(`imageFolderDataset: resample must be 'lanczos3' or 'bilinear', got ${JSON.stringify(resample)}.`);
  }
  const flipP = options.flip === true ? 0.5 : options.flip ? options.flip.p : 0;
  if (!(flipP >= 0 && flipP <= 1)) throw new RangeError(`imageFolderDataset: flip.p must be in [0, 1], got ${flipP}.`);
  if (!['train', 'eval', 'full'].includes(mode)) throw new Error(`imageFolderDataset: mode must be 'train', 'eval' or 'full', got '${mode}'.`);
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`imageFolderDataset: size must be a positive integer, got ${size}.`);
  const limitInputPixels = resolveLimitInputPixels(options.limitInputPixels, 'imageFolderDataset');
  const extensions = options.extensions ?? DEFAULT_IMAGE_EXTENSIONS;
  const listing = listImageFolder(root, extensions);
  const classDirs = listing.classNames;
  const exclude = new Set(options.exclude ?? []);
  const keep = exclude.size === 0 ? null : listing.files.map((f) => !exclude.has(f));
  const files = keep ? listing.files.filter((_, i) => keep[i]) : listing.files;
  const labels = keep ? listing.labels.filter((_, i) => keep[i]) : listing.labels;
  if (files.length === 0) {
    throw new Error(`imageFolderDataset: no ${extensions.join('/')} images under ${root}'s class folders (${classDirs.join(', ')}).`);
  }
  const channels = greyscale ? 1 : 3;
  const sampleOptions = { scale: [scale[0], scale[1]] as [number, number], ratio: [ratio[0], ratio[1]] as [number, number] };

  /**
   * Reads `file` and its size from the header, then runs `decodeWith` on the bytes; a read error or any
   * decode error becomes one message that names the file (`skipCorrupt` relies on that prefix).
   */
  async function withImage<T>(file: string, decodeWith: (bytes: Buffer, height: number, width: number) => Promise<T>): Promise<T> {
    let bytes: Buffer;
    try {
      bytes = readImageFile(file);
    } catch (err) {
      throw new ImageDecodeError(file, `cannot read the file (${(err as Error).message})`);
    }
    let meta: { width?: number | undefined; height?: number | undefined };
    try {
      meta = imageHeaderSize(bytes) ?? (await sharp(bytes, { failOn: 'truncated', limitInputPixels: false }).metadata());
      if (!meta.width || !meta.height) throw new Error('no image dimensions in the header');
    } catch (err) {
      throw new ImageDecodeError(file, `corrupt or unsupported image (${describeDecodeFailure(bytes, err)})`);
    }
    const tooLarge = pixelLimitProblem(meta.width, meta.height, limitInputPixels);
    if (tooLarge) throw new ImageTooLargeError(file, tooLarge);
    try {
      return await decodeWith(bytes, meta.height, meta.width);
    } catch (err) {
      throw new ImageDecodeError(file, `corrupt or unsupported image (${describeDecodeFailure(bytes, err)})`);
    }
  }

  /** The crop box of a train (random resized crop) or eval (resize-shorter + centre crop) sample. */
  const sampleBox = (rng: Rng, height: number, width: number) =>
    mode === 'train' ? sampleRandomResizedCrop(rng, height, width, sampleOptions) : resizeShorterCenterCropBox(height, width, { resize, crop: size });

  /** Bilinear mode: the box's region with one pixel of margin where the image has one, decoded by sharp. */
  const decodeRegion = (file: string, rng: Rng, label: number): Promise<Sample> =>
    withImage(file, async (bytes, height, width) => {
      const box = mode === 'full' ? { y: 0, x: 0, height, width } : sampleBox(rng, height, width);
      const flip = mode === 'train' && flipP > 0 && rng.bernoulli(flipP);
      const b = clampBox(box, height, width);
      const top = Math.max(0, b.top - 1);
      const left = Math.max(0, b.left - 1);
      const region = {
        top,
        left,
        height: Math.min(height, b.top + b.height + 1) - top,
        width: Math.min(width, b.left + b.width + 1) - left,
      };
      let image = sharp(bytes, { failOn: 'truncated', sequentialRead: true, limitInputPixels });
      if (region.height !== height || region.width !== width) image = image.extract(region);
      image = image.removeAlpha();
      image = greyscale ? image.greyscale() : image.toColourspace('srgb');
      const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
      if (info.channels !== channels || info.width !== region.width || info.height !== region.height) {
        throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${region.width}x${region.height}x${channels}`);
      }
      return {
        pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        label,
        crop: { height: region.height, width: region.width, box: { y: b.top - top, x: b.left - left, height: b.height, width: b.width }, flip },
      };
    });

  /** Default mode: sharp crops, flips and resizes (lanczos3) to size x size. */
  const decode = (file: string, rng: Rng): Promise<Uint8Array> =>
    withImage(file, async (bytes, height, width) => {
      let image = sharp(bytes, { failOn: 'truncated', sequentialRead: true, limitInputPixels });
      if (mode !== 'full') {
        image = image.extract(clampBox(sampleBox(rng, height, width), height, width));
        if (mode === 'train' && flipP > 0 && rng.bernoulli(flipP)) image = image.flop();
      }
      image = image.resize(size, size, { fit: 'fill' }).removeAlpha();
      image = greyscale ? image.greyscale() : image.toColourspace('srgb');
      const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
      if (info.channels !== channels || info.width !== size || info.height !== size || data.length !== size * size * channels) {
        throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x${channels}`);
      }
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    });

  return {
    size: files.length,
    numClasses: classDirs.length,
    height: size,
    width: size,
    channels,
    classNames: classDirs,
    files,
    labels,
    async get(index: number, rng: Rng): Promise<Sample | SkippedSample> {
      const file = files[index];
      if (file === undefined) throw new RangeError(`get(${index}): index out of range for ${files.length} images under ${root}.`);
      try {
        const label = labels[index] as number;
        return resample === 'bilinear' ? await decodeRegion(file, rng, label) : { pixels: await decode(file, rng), label };
      } catch (err) {
        if (!skipCorrupt || err instanceof ImageTooLargeError) throw err;
        return { skipped: true, file, reason: err instanceof ImageDecodeError ? err.reason : (err as Error).message };
      }
    },
  };
}
