import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEBIAN_FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, inMemoryDataset, loadEmbeddedFashionMnist, loadFashionMnist, loadIdxDataset, type InMemoryDataset } from '@bag-of-tricks/data';
import { ConfigError, parseConfig } from '../src/config';
import { datasetClassNames, selectData } from '../src/data-selection';

/**
 * A labelled set whose every image is one pixel holding its own row index, so a selected row says which source row
 * it is: `counts[c]` images of class c, classes interleaved (row r has class r mod k while that class lasts).
 */
function tagged(counts: readonly number[], names?: readonly string[]): InMemoryDataset {
  const labels: number[] = [];
  const left = [...counts];
  while (left.some((n) => n > 0)) left.forEach((n, c) => {
      if (n > 0) {
        labels.push(c);
        left[c] = n - 1;
      }
    });
  return inMemoryDataset({
    images: Float32Array.from(labels, (_, i) => i),
    labels: Uint8Array.from(labels),
    height: 1,
    width: 1,
    numClasses: counts.length,
    ...(names ? { classNames: names } : {}),
  });
}
const rowsOf = (ds: InMemoryDataset): number[] => Array.from(ds.images);
const histogram = (labels: ArrayLike<number>, k: number): number[] => {
  const h = new Array<number>(k).fill(0);
  for (let i = 0; i < labels.length; i++) h[labels[i] as number]!++;
  return h;
};

describe('data.classes / data.perClass (selectData)', () => {
  const names = ['a', 'b', 'c', 'd', 'e', 'f'];
  const train = tagged([20, 30, 25, 40, 20, 12], names);
  const test = tagged([5, 6, 7, 8, 9, 10]);

  it('keeps the listed classes, relabelled 0..k-1 in the order given, with their names; exactly N per class', () => {
    const s = selectData({ train, test }, { classes: [3, 1, 4], perClass: 10 }, 1);
    expect(s.train.classNames).toEqual(['d', 'b', 'e']);
    expect(s.train.numClasses).toBe(3);
    expect(s.train.size).toBe(30);
    expect(histogram(s.train.labels, 3)).toEqual([10, 10, 10]);
    // Each kept row is a row of the source with the class the new label stands for (3 → 0, 1 → 1, 4 → 2).
    const back = [3, 1, 4];
    rowsOf(s.train).forEach((row, i) => expect(train.labels[row]).toBe(back[s.train.labels[i]!]));
    expect(new Set(rowsOf(s.train)).size).toBe(30); // drawn without replacement
    expect(rowsOf(s.train)).toEqual([...rowsOf(s.train)].sort((a, b) => a - b)); // in dataset order
    // Evaluation keeps every image of the kept classes (8 + 6 + 9), relabelled alike, and the same names.
    expect(s.test.size).toBe(23);
    expect(histogram(s.test.labels, 3)).toEqual([8, 6, 9]);
    rowsOf(s.test).forEach((row, i) => expect(test.labels[row]).toBe(back[s.test.labels[i]!]));
    expect(s.test.classNames).toEqual(['d', 'b', 'e']);
  });

  it('is seeded: the same seed picks the same images, another seed others; classes alone keep every image', () => {
    const pick = (seed: number) => rowsOf(selectData({ train, test }, { classes: [3, 1, 4], perClass: 10 }, seed).train);
    expect(pick(1)).toEqual(pick(1));
    expect(pick(2)).not.toEqual(pick(1));
    const all = selectData({ train, test }, { classes: [5, 0] }, 1);
    expect(all.train.size).toBe(32);
    expect(histogram(all.train.labels, 2)).toEqual([12, 20]);
    // perClass alone: every class, N each.
    const every = selectData({ train, test }, { perClass: 12 }, 0);
    expect(histogram(every.train.labels, 6)).toEqual([12, 12, 12, 12, 12, 12]);
    expect(every.train.classNames).toEqual(names);
    expect(selectData({ train, test }, {}, 0).train).toBe(train);
  });

  it('refuses a class out of range and a perClass over the smallest kept class, naming the field and the fix', () => {
    expect(() => selectData({ train, test }, { classes: [1, 6] }, 0)).toThrow(
      'data.classes[1]: class 6 is out of range: the training data has 6 classes (labels 0-5); pick classes from 0 to 5.',
    );
    expect(() => selectData({ train, test }, { classes: [3, 5], perClass: 13 }, 0)).toThrow(
      'data.perClass: 13 is more than the 12 training images of class 5 (f); lower perClass to at most 12, or leave it out to train on every image.',
    );
    expect(() => selectData({ train, test }, { classes: [3, 5], perClass: 12 }, 0)).not.toThrow();
    expect(() => selectData({ train, test }, { classes: [2, 2] }, 0)).toThrow('data.classes: class 2 is listed twice');
  });

  it('the config schema takes classes and perClass for embedded and idx data, and names bad values', () => {
    const base = { model: { name: 'resnet20' }, epochs: 1 };
    expect(parseConfig({ ...base, data: { source: 'embedded', classes: [5, 6, 7, 8, 9], perClass: 50 } }).data).toEqual({ source: 'embedded', classes: [5, 6, 7, 8, 9], perClass: 50 });
    expect(parseConfig({ ...base, data: { source: 'idx', dir: '/d', classes: [0, 1] } }).data).toEqual({ source: 'idx', dir: '/d', classes: [0, 1] });
    const issues = (data: unknown): string => {
      try {
        parseConfig({ ...base, data });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).issues.join('\n');
      }
      throw new Error('accepted');
    };
    expect(issues({ source: 'embedded', perClass: 0 })).toMatch(/^data\.perClass: .*0/);
    expect(issues({ source: 'embedded', classes: [1, -1] })).toMatch(/^data\.classes\[1\]: .*-1/);
    expect(issues({ source: 'embedded', classes: [1.5, 2] })).toMatch(/^data\.classes\[0\]: expected int/);
    expect(issues({ source: 'embedded', classes: [4, 4] })).toMatch(/^data\.classes: list each class once/);
    expect(issues({ source: 'embedded', classes: [4] })).toMatch(/^data\.classes: .*2/);
    expect(issues({ source: 'image-folder', dir: 'a', evalDir: 'b', classes: [0, 1] })).toMatch(/^data: unknown field\(s\) 'classes'/);
  });

  it('on the embedded Fashion-MNIST subset: classes 5-9 with 50 each are 250 training images and all 500 test images of those classes', () => {
    // The subset holds 600 training and 100 test images of each class (data's README).
    const s = selectData(loadEmbeddedFashionMnist(), { classes: [5, 6, 7, 8, 9], perClass: 50 }, 0);
    expect(histogram(s.train.labels, 5)).toEqual([50, 50, 50, 50, 50]);
    expect(histogram(s.test.labels, 5)).toEqual([100, 100, 100, 100, 100]);
    expect(s.train.classNames).toEqual(['Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
    expect(() => selectData(loadEmbeddedFashionMnist(), { classes: [0, 1], perClass: 601 }, 0)).toThrow(/data\.perClass: 601 is more than the 600 training images of class 0 \(T-shirt\/top\)/);
  });

  it.runIf(existsSync(DEBIAN_FASHION_MNIST_DIR))('on the full test split (no class names in IDX files): the names follow the Fashion-MNIST rule, 1,000 per class', () => {
    const bare = loadIdxDataset(DEBIAN_FASHION_MNIST_DIR, 'test');
    expect(bare.classNames).toBeUndefined();
    expect(datasetClassNames(bare)).toEqual([...FASHION_MNIST_CLASSES]);
    const s = selectData({ train: loadFashionMnist().train, test: bare }, { classes: [0, 1, 2, 3, 4] }, 0);
    expect(histogram(s.test.labels, 5)).toEqual([1000, 1000, 1000, 1000, 1000]);
    expect(histogram(s.train.labels, 5)).toEqual([6000, 6000, 6000, 6000, 6000]);
  });
});
