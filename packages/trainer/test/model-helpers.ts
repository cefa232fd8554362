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
