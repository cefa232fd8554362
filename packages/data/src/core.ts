// @bag-of-tricks/data/core: the Node-free part of data, for browsers and Web Workers: in-memory datasets,
// the seeded batch loader and Fashion-MNIST's class names. File readers (IDX files, image folders with
// sharp, the embedded subset's folder) stay in the package root.
export { FASHION_MNIST_CLASSES } from './classes';
export {
  inMemoryDataset,
  isSkipped,
  resolveSample,
  type Dataset,
  type InMemoryDataset,
  type InMemoryDatasetOptions,
  type Sample,
  type SampleCrop,
  type SkippedSample,
} from './dataset';
export { createLoader, type EpochOptions, type EpochStats, type Loader, type LoaderOptions } from './loader';
