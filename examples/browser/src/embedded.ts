// The embedded Fashion-MNIST subset of @bag-of-tricks/data (6,000 train and 1,000 test images, gzipped IDX
// files), fetched by URL and gunzipped with the browser's DecompressionStream.
import trainImagesUrl from '@bag-of-tricks/data/assets/fashion-mnist-subset/train-images-idx3-ubyte.gz?url';
import trainLabelsUrl from '@bag-of-tricks/data/assets/fashion-mnist-subset/train-labels-idx1-ubyte.gz?url';
import testImagesUrl from '@bag-of-tricks/data/assets/fashion-mnist-subset/t10k-images-idx3-ubyte.gz?url';
import testLabelsUrl from '@bag-of-tricks/data/assets/fashion-mnist-subset/t10k-labels-idx1-ubyte.gz?url';
import { FASHION_MNIST_CLASSES, inMemoryDataset, type InMemoryDataset } from '@bag-of-tricks/data/core';

async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`embedded data: ${url} answered HTTP ${res.status}.`);
  const raw = new Uint8Array(await res.arrayBuffer());
  // A server may already have undone the gzip (Content-Encoding); otherwise the magic 1f 8b says it is ours to do.
  if (raw[0] !== 0x1f || raw[1] !== 0x8b) return raw;
  const stream = new Blob([raw]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** An unsigned-byte IDX array (magic 0x0000080N): its dims and body. */
function parseUbyteIdx(bytes: Uint8Array, name: string): { dims: number[]; body: Uint8Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 || view.getUint16(0) !== 0 || bytes[2] !== 0x08) throw new Error(`embedded data: ${name} is not an unsigned-byte IDX file.`);
  const rank = bytes[3]!;
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const start = 4 + 4 * rank;
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - start !== count) throw new Error(`embedded data: ${name} holds ${bytes.length - start} values, its dims [${dims.join(', ')}] need ${count}.`);
  return { dims, body: bytes.subarray(start) };
}

async function split(imagesUrl: string, labelsUrl: string, what: string): Promise<InMemoryDataset> {
  const [imageBytes, labelBytes] = await Promise.all([fetchBytes(imagesUrl), fetchBytes(labelsUrl)]);
  const images = parseUbyteIdx(imageBytes, `${what} images`);
  const labels = parseUbyteIdx(labelBytes, `${what} labels`);
  return inMemoryDataset({
    images: images.body,
    labels: labels.body,
    height: images.dims[1]!,
    width: images.dims[2]!,
    channels: 1,
    numClasses: FASHION_MNIST_CLASSES.length,
    classNames: FASHION_MNIST_CLASSES,
  });
}

export async function loadEmbedded(): Promise<{ train: InMemoryDataset; test: InMemoryDataset }> {
  const [train, test] = await Promise.all([split(trainImagesUrl, trainLabelsUrl, 'train'), split(testImagesUrl, testLabelsUrl, 'test')]);
  return { train, test };
}
