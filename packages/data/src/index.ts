export { encodeIdx, idxMagic, readIdx, type IdxArray, type IdxData, type IdxDtype, type ReadIdxOptions } from './idx';
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
export {
  DEBIAN_FASHION_MNIST_DIR,
  EMBEDDED_FASHION_MNIST_DIR,
  FASHION_MNIST_CLASSES,
  loadEmbeddedFashionMnist,
  loadFashionMnist,
  loadIdxDataset,
  type IdxSplit,
  type LoadIdxDatasetOptions,
} from './fashion-mnist';
export { imageFolderDataset, imageHeaderSize, type ImageFolderDataset, type ImageFolderOptions } from './image-folder';
export { createLoader, type EpochStats, type Loader, type LoaderOptions } from './loader';
export { fileSystemIO, registerFileRouter, removeStaleTempFiles, writeFileAtomic } from './file-io';
