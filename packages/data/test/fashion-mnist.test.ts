import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEBIAN_FASHION_MNIST_DIR, EMBEDDED_FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, loadEmbeddedFashionMnist, loadFashionMnist } from '../src/index';

// Debian's dataset-fashion-mnist must be installed (apt-get install dataset-fashion-mnist);
// FASHION_MNIST_DIR points elsewhere.
const fullDir = process.env.FASHION_MNIST_DIR ?? DEBIAN_FASHION_MNIST_DIR;

function classCounts(labels: ArrayLike<number>): number[] {
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i] as number]! += 1;
  return counts;
}

describe('Fashion-MNIST', () => {
  it('the full Debian data set has 60000/10000 28x28 images, 6000/1000 per class', () => {
    const { train, test } = loadFashionMnist(fullDir);
    expect([train.size, train.height, train.width, train.channels]).toEqual([60000, 28, 28, 1]);
    expect([test.size, test.height, test.width, test.channels]).toEqual([10000, 28, 28, 1]);
    expect(classCounts(train.labels)).toEqual(new Array(10).fill(6000));
    expect(classCounts(test.labels)).toEqual(new Array(10).fill(1000));
    // Known facts of the published files: the first training label is 9 (ankle boot), the first test label 9 too.
    expect(train.get(0).label).toBe(9);
    expect(test.get(0).label).toBe(9);
    expect(train.classNames?.[9]).toBe('Ankle boot');
  });

  it('the embedded subset is balanced, 600/100 per class, and each image is a verbatim copy of the source', async () => {
    const { train, test } = loadEmbeddedFashionMnist();
    expect([train.size, test.size]).toEqual([6000, 1000]);
    expect(classCounts(train.labels)).toEqual(new Array(10).fill(600));
    expect(classCounts(test.labels)).toEqual(new Array(10).fill(100));
    expect(train.classNames).toEqual(FASHION_MNIST_CLASSES);
    const full = loadFashionMnist(fullDir);
    // Every subset image is the source image the manifest names, pixels and label unchanged.
    const manifest = (await import('../assets/fashion-mnist-subset/manifest.json')).default as {
      splits: Record<'train' | 'test', { sourceIndices: number[]; sha256: Record<string, string> }>;
    };
    const splits = [
      ['train', train, full.train],
      ['test', test, full.test],
    ] as const;
    for (const [split, sub, src] of splits) {
      const idx = manifest.splits[split].sourceIndices;
      expect(idx.length).toBe(sub.size);
      expect(new Set(idx).size).toBe(sub.size);
      for (let i = 0; i < sub.size; i++) {
        if (sub.labels[i] !== src.labels[idx[i]!]) throw new Error(`${split}[${i}]: label differs from source ${idx[i]}`);
        if (!Buffer.from(sub.get(i).pixels).equals(Buffer.from(src.get(idx[i]!).pixels))) throw new Error(`${split}[${i}]: pixels differ`);
      }
      for (const [name, hash] of Object.entries(manifest.splits[split].sha256)) {
        expect(createHash('sha256').update(readFileSync(join(EMBEDDED_FASHION_MNIST_DIR, name))).digest('hex')).toBe(hash);
      }
    }
  });
});
