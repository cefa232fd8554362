export { encodeIdx, idxMagic, readIdx, readIdxHeader, type IdxArray, type IdxData, type IdxDtype, type ReadIdxOptions } from './idx';
// The Node-free part (in-memory datasets, the loader, class names) is ./core; the root adds the file readers.
export * from './core';
export {
  checkIdxSplits,
  DEBIAN_FASHION_MNIST_DIR,
  EMBEDDED_FASHION_MNIST_DIR,
  loadEmbeddedFashionMnist,
  loadFashionMnist,
  loadIdxDataset,
  type IdxSplit,
  type LoadIdxDatasetOptions,
} from './fashion-mnist';
export {
  DEFAULT_IMAGE_EXTENSIONS,
  IMAGE_FOLDER_DEFAULTS,
  ImageDecodeError,
  ImageTooLargeError,
  imageFolderDataset,
  imageHeaderSize,
  listImageFolder,
  type ImageFolderDataset,
  type ImageFolderListing,
  type ImageFolderOptions,
} from './image-folder';
export { DEFAULT_LIMIT_INPUT_PIXELS } from './image-checks';
export {
  checkImageFolder,
  checkImageFolders,
  DatasetCheckError,
  type CheckImageFoldersOptions,
  type ImageFolderCheck,
  type ImageProblem,
} from './preflight';
export { fileSystemIO, registerFileRouter, removeStaleTempFiles, writeFileAtomic } from './file-io';
