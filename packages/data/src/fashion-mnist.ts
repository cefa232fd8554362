import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FASHION_MNIST_CLASSES } from './classes';
import { inMemoryDataset, type InMemoryDataset } from './dataset';
import { readIdx, readIdxHeader } from './idx';

export { FASHION_MNIST_CLASSES };

/** Where Debian's `dataset-fashion-mnist` package puts the full data set. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The embedded balanced subset (600 train + 100 test images per class), shipped in this package. */
export const EMBEDDED_FASHION_MNIST_DIR: string = fileURLToPath(new URL('../assets/fashion-mnist-subset', import.meta.url));

export type IdxSplit = 'train' | 'test';

export interface LoadIdxDatasetOptions {
  classNames?: readonly string[];
  /** Default: classNames.length, else 10 (MNIST, Fashion-MNIST). */
  numClasses?: number;
}

const PREFIX: Record<IdxSplit, string> = { train: 'train', test: 't10k' };

function findFile(dir: string, split: IdxSplit, kind: 'images' | 'labels'): string {
  const p = PREFIX[split];
  const n = kind === 'images' ? 3 : 1;
  // The usual name, the dotted one of the original MNIST archive, each raw or gzipped.
  const names = [`${p}-${kind}-idx${n}-ubyte`, `${p}-${kind}.idx${n}-ubyte`].flatMap((b) => [`${b}.gz`, b]);
  for (const name of names) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new Error(`loadIdxDataset: no ${split} ${kind} file in ${dir}; looked for ${names.join(', ')}.`);
}

/**
 * The rule that train and test images have one size: a model built for one cannot read the other, and
 * [N, 14, 56] against [N, 28, 28] has the same byte count, so nothing else would notice.
 */
function assertSameImageSize(train: { file: string; dims: readonly number[] }, test: { file: string; dims: readonly number[] }): void {
  const shape = (dims: readonly number[]) => dims.slice(1).join('x');
  if (shape(train.dims) === shape(test.dims)) return;
  const sameBytes = train.dims.slice(1).reduce((a, b) => a * b, 1) === test.dims.slice(1).reduce((a, b) => a * b, 1);
  throw new Error(
    `IDX train and test images differ in size: ${train.file} holds ${train.dims[0]} images of ${shape(train.dims)}, ` +
      `${test.file} holds ${test.dims[0]} of ${shape(test.dims)}` +
      (sameBytes ? ' (the same bytes per image, laid out differently)' : '') +
      '; both splits must come from one data set with one image size: re-export the test split at the train size.',
  );
}

/**
 * Checks an MNIST-format folder before loading it, from the headers alone: both splits' image files
 * exist and their images have the same height x width. `testDir` takes the test split from another
 * folder (default `dir`). Returns the files and dims.
 */
export function checkIdxSplits(
  dir: string,
  { testDir = dir }: { testDir?: string } = {},
): { train: { file: string; dims: readonly number[] }; test: { file: string; dims: readonly number[] } } {
  const header = (split: IdxSplit) => {
    const file = findFile(split === 'train' ? dir : testDir, split, 'images');
    const { dtype, dims } = readIdxHeader(file);
    if (dtype !== 'uint8' || dims.length !== 3) {
      throw new Error(`${file}: expected uint8 images [N, height, width] (magic 0x00000803), found ${dtype} with ${dims.length} dims.`);
    }
    return { file, dims };
  };
  const train = header('train');
  const test = header('test');
  assertSameImageSize(train, test);
  return { train, test };
}

/**
 * Loads the `train` or `test` split of an MNIST-format data set from `dir` (standard file
 * names, gzipped or raw). Images must be uint8 [N, H, W] (magic 0x00000803), labels uint8 [N]
 * (0x00000801), with the same N.
 */
export function loadIdxDataset(dir: string, split: IdxSplit, options: LoadIdxDatasetOptions = {}): InMemoryDataset {
  if (split !== 'train' && split !== 'test') throw new Error(`loadIdxDataset: split must be 'train' or 'test', got '${String(split)}'.`);
  const imagesFile = findFile(dir, split, 'images');
  const labelsFile = findFile(dir, split, 'labels');
  const images = readIdx(imagesFile, { dtype: 'uint8', rank: 3 });
  const labels = readIdx(labelsFile, { dtype: 'uint8', rank: 1 });
  const [count, height, width] = images.dims as [number, number, number];
  if (labels.dims[0] !== count) {
    throw new Error(`${labelsFile}: ${labels.dims[0]} labels but ${imagesFile} holds ${count} images; the counts must match.`);
  }
  const numClasses = options.numClasses ?? options.classNames?.length ?? 10;
  const labelData = labels.data as Uint8Array;
  for (let i = 0; i < labelData.length; i++) {
    if ((labelData[i] as number) >= numClasses) {
      throw new Error(`${labelsFile}: label ${labelData[i]} at index ${i} is out of range for ${numClasses} classes.`);
    }
  }
  return inMemoryDataset({
    images: images.data as Uint8Array,
    labels: labelData,
    height,
    width,
    channels: 1,
    numClasses,
    ...(options.classNames ? { classNames: options.classNames } : {}),
  });
}

/** Both splits of Fashion-MNIST from `dir` (default: Debian's location), with class names. */
export function loadFashionMnist(dir: string = DEBIAN_FASHION_MNIST_DIR): { train: InMemoryDataset; test: InMemoryDataset } {
  const options = { classNames: FASHION_MNIST_CLASSES };
  checkIdxSplits(dir);
  return { train: loadIdxDataset(dir, 'train', options), test: loadIdxDataset(dir, 'test', options) };
}

/**
 * The embedded balanced Fashion-MNIST subset: 6,000 train and 1,000 test images, 600 and 100 per
 * class, 28x28 greyscale. MIT licence, (c) 2017 Zalando SE; see assets/fashion-mnist-subset/NOTICE.
 */
export function loadEmbeddedFashionMnist(): { train: InMemoryDataset; test: InMemoryDataset } {
  return loadFashionMnist(EMBEDDED_FASHION_MNIST_DIR);
}
