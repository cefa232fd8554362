import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeIdx, loadEmbeddedFashionMnist } from '@bag-of-tricks/data';
import { tempOut } from './helpers';

/**
 * A small IDX folder (MNIST layout) cut from the embedded Fashion-MNIST subset: the first `train` and
 * `test` images of each split (the embedded files are class-balanced and shuffled), so a run of a few
 * epochs takes seconds. Returns the folder.
 */
export function smallIdx(train = 256, test = 200): string {
  const dir = tempOut('idx');
  mkdirSync(dir, { recursive: true });
  const split = loadEmbeddedFashionMnist();
  for (const [name, ds, n] of [
    ['train', split.train, train],
    ['t10k', split.test, test],
  ] as const) {
    const px = ds.height * ds.width;
    const images = Uint8Array.from(ds.images.subarray(0, n * px));
    const labels = Uint8Array.from(ds.labels.subarray(0, n));
    writeFileSync(join(dir, `${name}-images-idx3-ubyte`), encodeIdx({ dtype: 'uint8', dims: [n, ds.height, ds.width], data: images }));
    writeFileSync(join(dir, `${name}-labels-idx1-ubyte`), encodeIdx({ dtype: 'uint8', dims: [n], data: labels }));
  }
  return dir;
}

/**
 * An image folder (train/<class>/*.png, val/<class>/*.png) of 28x28 greyscale PNGs cut from the embedded
 * Fashion-MNIST test subset: `perClass` images of each of the given Fashion-MNIST labels, folder names = the
 * Fashion-MNIST class names with '/' replaced. Returns the root.
 */
export async function fashionImageFolder(labels: readonly number[], perClass = 8): Promise<string> {
  const sharp = (await import('sharp')).default;
  const { FASHION_MNIST_CLASSES } = await import('@bag-of-tricks/data');
  const root = tempOut('folder');
  const test = loadEmbeddedFashionMnist().test;
  const px = test.height * test.width;
  for (const label of labels) {
    const name = FASHION_MNIST_CLASSES[label]!.replace('/', '-');
    const rows = [...test.labels.keys()].filter((i) => test.labels[i] === label).slice(0, 2 * perClass);
    for (const [split, part] of [
      ['train', rows.slice(0, perClass)],
      ['val', rows.slice(perClass)],
    ] as const) {
      mkdirSync(join(root, split, name), { recursive: true });
      for (const i of part) {
        await sharp(Buffer.from(test.images.subarray(i * px, (i + 1) * px)), { raw: { width: 28, height: 28, channels: 1 } })
          .png()
          .toFile(join(root, split, name, `${i}.png`));
      }
    }
  }
  return root;
}
