import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inMemoryDataset, type InMemoryDataset } from './dataset';
import { readIdx } from './idx';

/** Fashion-MNIST's ten classes, in label order. */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
]);

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
  return { train: loadIdxDataset(dir, 'train', options), test: loadIdxDataset(dir, 'test', options) };
}

/**
 * The embedded balanced Fashion-MNIST subset: 6,000 train and 1,000 test images, 600 and 100 per
 * class, 28x28 greyscale. MIT licence, (c) 2017 Zalando SE; see assets/fashion-mnist-subset/NOTICE.
 */
export function loadEmbeddedFashionMnist(): { train: InMemoryDataset; test: InMemoryDataset } {
  return loadFashionMnist(EMBEDDED_FASHION_MNIST_DIR);
}
