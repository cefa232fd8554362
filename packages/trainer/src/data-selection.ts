import { createRng } from '@bag-of-tricks/core';
import { FASHION_MNIST_CLASSES, inMemoryDataset, type Dataset, type InMemoryDataset } from '@bag-of-tricks/data/core';

/** The part of a run's data that config `data.classes` / `data.perClass` select (see {@link selectData}). */
export interface DataSelection {
  /** Keep only these classes, relabelled 0..k-1 in the order given. */
  readonly classes?: readonly number[] | undefined;
  /** At most this many training images per class, drawn per class with `seed` (stratified). */
  readonly perClass?: number | undefined;
}

/** Stream key of the selection's generator (so it never shares draws with init, data order or augmentation). */
const SELECTION_STREAM = 0xc1a55;

/**
 * The class names of a dataset: its own `classNames`, else Fashion-MNIST's for a 10-class set (MNIST-format IDX
 * files carry no names), else the label indices as strings. The one rule for the names a run's model.json gets.
 */
export function datasetClassNames(dataset: Pick<Dataset, 'numClasses' | 'classNames'>): string[] {
  if (dataset.classNames) return [...dataset.classNames];
  if (dataset.numClasses === FASHION_MNIST_CLASSES.length) return [...FASHION_MNIST_CLASSES];
  return Array.from({ length: dataset.numClasses }, (_, i) => String(i));
}

/** Indices of each label's examples, in dataset order. */
function indicesByClass(labels: ArrayLike<number>, numClasses: number): number[][] {
  const by = Array.from({ length: numClasses }, () => [] as number[]);
  for (let i = 0; i < labels.length; i++) by[labels[i] as number]!.push(i);
  return by;
}

/** A new in-memory dataset of the rows `rows` (ascending), labels mapped through `relabel`, with `classNames`. */
function takeRows(source: InMemoryDataset, rows: readonly number[], relabel: (label: number) => number, classNames: readonly string[]): InMemoryDataset {
  const pixels = source.height * source.width * source.channels;
  const images = source.images instanceof Float32Array ? new Float32Array(rows.length * pixels) : new Uint8Array(rows.length * pixels);
  const labels = new Uint8Array(rows.length);
  rows.forEach((row, i) => {
    images.set(source.images.subarray(row * pixels, (row + 1) * pixels), i * pixels);
    labels[i] = relabel(source.labels[row] as number);
  });
  return inMemoryDataset({ images, labels, height: source.height, width: source.width, channels: source.channels, numClasses: classNames.length, classNames });
}

/**
 * Applies `data.classes` and `data.perClass` to a run's training and evaluation sets:
 * - `classes` keeps those classes in both, relabelled 0..k-1 in the order given (`[5, 6, 7, 8, 9]`: Sandal is 0),
 *   and the class names follow (so model.json names the k classes the model predicts);
 * - `perClass` keeps N training images of each (kept) class, drawn per class without replacement by a generator
 *   seeded with `seed` (the run's seed), in dataset order; evaluation keeps every image of the kept classes.
 * Returns the sets unchanged when neither is set. Throws naming the field: a class outside the data's labels, or a
 * perClass larger than the smallest kept class.
 */
export function selectData(
  split: { train: InMemoryDataset; test: InMemoryDataset },
  selection: DataSelection,
  seed: number,
): { train: InMemoryDataset; test: InMemoryDataset } {
  const { classes, perClass } = selection;
  if (classes === undefined && perClass === undefined) return split;
  const { train, test } = split;
  const names = datasetClassNames(train);
  const kept = classes ?? Array.from({ length: train.numClasses }, (_, i) => i);
  kept.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || c >= train.numClasses) {
      throw new Error(`data.classes[${i}]: class ${c} is out of range: the training data has ${train.numClasses} classes (labels 0-${train.numClasses - 1}); pick classes from 0 to ${train.numClasses - 1}.`);
    }
  });
  const seen = new Set<number>();
  for (const c of kept) {
    if (seen.has(c)) throw new Error(`data.classes: class ${c} is listed twice; list each class once.`);
    seen.add(c);
  }
  const newLabel = new Map(kept.map((c, i) => [c, i]));
  const relabel = (label: number) => newLabel.get(label)!;
  const keptNames = kept.map((c) => names[c]!);

  const trainBy = indicesByClass(train.labels, train.numClasses);
  let trainRows: number[];
  if (perClass !== undefined) {
    if (!Number.isInteger(perClass) || perClass < 1) throw new Error(`data.perClass: expected a positive integer, got ${perClass}.`);
    const smallest = kept.reduce((a, c) => (trainBy[c]!.length < trainBy[a]!.length ? c : a), kept[0]!);
    if (perClass > trainBy[smallest]!.length) {
      throw new Error(
        `data.perClass: ${perClass} is more than the ${trainBy[smallest]!.length} training images of class ${smallest} (${names[smallest]}); ` +
          `lower perClass to at most ${trainBy[smallest]!.length}, or leave it out to train on every image.`,
      );
    }
    const rng = createRng(seed, SELECTION_STREAM);
    // One permutation per kept class, in the order of the class list, so a class's draw depends only on the seed
    // and its place in the list; the kept rows stay in dataset order (the loader shuffles them each epoch).
    trainRows = kept.flatMap((c) => rng.shuffle([...trainBy[c]!]).slice(0, perClass)).sort((a, b) => a - b);
  } else {
    trainRows = kept.flatMap((c) => trainBy[c]!).sort((a, b) => a - b);
  }
  if (test.numClasses < train.numClasses) {
    const over = kept.find((c) => c >= test.numClasses);
    if (over !== undefined) throw new Error(`data.classes: class ${over} is not in the evaluation data (${test.numClasses} classes).`);
  }
  const testBy = indicesByClass(test.labels, test.numClasses);
  const testRows = kept.flatMap((c) => testBy[c]!).sort((a, b) => a - b);
  return { train: takeRows(train, trainRows, relabel, keptNames), test: takeRows(test, testRows, relabel, keptNames) };
}
