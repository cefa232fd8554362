import * as tf from '@tensorflow/tfjs-core';
import { createRng, type Batch, type BatchTransform, type Rng } from '@bag-of-tricks/core';
import { applyPixelDrawResized, type PixelPipeline } from '@bag-of-tricks/augment';
import { isSkipped, type Dataset, type Sample, type SkippedSample } from './dataset';

export interface LoaderOptions {
  batchSize: number;
  /** Seeds the order and every augmentation: an epoch is a pure function of (seed, epoch). */
  seed: number;
  /** Reshuffle every epoch (default true); false keeps dataset order. */
  shuffle?: boolean;
  /** Drop the last, smaller batch (default false). */
  dropLast?: boolean;
  /**
   * Batch-level augmentation, run in `tf.tidy` with its own stream createRng(seed, epoch, 2, batchIndex).
   * `loader.epoch(e, { transform })` replaces it for one epoch (say, mixup switched off for the last epochs).
   */
  transform?: BatchTransform;
  /**
   * Per-image photometric pass, e.g. augment's `pixelPipeline({ preset: 'paper' })`: flip, colour
   * jitter, PCA lighting and normalize run on each decoded image's pixels in one loop, written
   * straight into the batch's float32 array, before the batch tensor exists (far faster than the
   * same steps as tensor ops on wasm/cpu). It draws from createRng(seed, epoch, 2, batchIndex), in
   * the tensor transforms' order, and `transform` (say, mixup) continues on that stream: so
   * `pixelTransform: p` with `transform: t` gives the batches `transform: compose(p.tensorTransform, t)` gives.
   */
  pixelTransform?: PixelPipeline;
  /** Batches decoded ahead of the one being consumed (default 2; 0 decodes on demand). */
  prefetch?: number;
  /**
   * Most `dataset.get` calls in flight at once (default 4, libuv's default thread pool size).
   * Asynchronous decoders (sharp) gain nothing from more calls than threads, and lose CPU time
   * per image to scheduling and memory churn when a whole prefetched batch is in flight at once.
   */
  concurrency?: number;
  /** Width of the one-hot labels (default dataset.numClasses). */
  numClasses?: number;
  /** Called when an epoch has been read to the end, with what was skipped. */
  onEpochEnd?: (stats: EpochStats) => void;
}

export interface EpochStats {
  readonly epoch: number;
  readonly batches: number;
  readonly samples: number;
  /** Corrupt files a dataset with `skipCorrupt` skipped this epoch. */
  readonly skipped: readonly { readonly index: number; readonly file: string; readonly reason: string }[];
}

export interface Loader {
  readonly dataset: Dataset;
  readonly batchSize: number;
  /** Batches per epoch (an upper bound when a dataset skips corrupt files). */
  readonly stepsPerEpoch: number;
  /** Stats of the last epoch read to the end, or null before the first. */
  readonly stats: EpochStats | null;
  /**
   * The batches of epoch `epoch` (0-based): images [N, H, W, C] float32 in [0, 255] (before
   * `transform`), labels one-hot [N, K], `indices` the dataset index of each row (skipped corrupt images
   * are left out). The caller owns and disposes every batch.
   * `fromBatch` resumes mid-epoch (after a checkpoint): batches fromBatch.. are exactly the tail
   * of the full epoch, and the ones before are not decoded.
   * `transform` replaces the loader's own `transform` for this epoch, on the same stream: every random draw of
   * an epoch is a pure function of (seed, epoch, position), so a resumed epoch gets the batches it would have got.
   */
  epoch(epoch: number, options?: EpochOptions): AsyncIterable<Batch>;
}

export interface EpochOptions {
  /** The first batch to yield (default 0); the ones before are neither decoded nor drawn. */
  fromBatch?: number;
  /** This epoch's batch transform, in place of `LoaderOptions.transform`. */
  transform?: BatchTransform;
}

interface Decoded {
  readonly samples: Sample[];
  /** The dataset index of each kept sample, in batch order. */
  readonly indices: number[];
  readonly skipped: { index: number; file: string; reason: string }[];
  /** The finished batch pixels (with a pixelTransform, or samples to resize), and the pixelTransform's stream, advanced past its draws. */
  images?: Float32Array;
  rng?: Rng;
}

// Stream keys under createRng(seed, epoch, ...): each consumer of randomness gets its own stream.
const ORDER_STREAM = 0;
const SAMPLE_STREAM = 1;
const TRANSFORM_STREAM = 2;

/**
 * Batches a dataset into `Batch` tensors with seeded shuffling and async prefetch. Order, per-image
 * randomness (createRng(seed, epoch, 1, position)) and batch transforms (createRng(seed, epoch, 2,
 * batch)) come from streams derived from (seed, epoch), so prefetch depth and decode timing
 * cannot change a single value.
 */
export function createLoader(dataset: Dataset, options: LoaderOptions): Loader {
  const { batchSize, seed, shuffle = true, dropLast = false, pixelTransform, prefetch = 2, concurrency = 4, onEpochEnd } = options;
  const numClasses = options.numClasses ?? dataset.numClasses;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`createLoader: batchSize must be a positive integer, got ${batchSize}.`);
  if (!Number.isFinite(seed)) throw new TypeError(`createLoader: seed must be a finite number, got ${seed}.`);
  if (!Number.isInteger(prefetch) || prefetch < 0) throw new RangeError(`createLoader: prefetch must be an integer >= 0, got ${prefetch}.`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`createLoader: concurrency must be an integer >= 1, got ${concurrency}.`);
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new RangeError(`createLoader: numClasses must be a positive integer, got ${numClasses}.`);
  const n = dataset.size;
  const stepsPerEpoch = dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
  if (stepsPerEpoch === 0) {
    throw new RangeError(`createLoader: ${n} examples make no batch of ${batchSize}${dropLast ? ' with dropLast' : ''}.`);
  }
  const { height, width, channels } = dataset;
  if (pixelTransform && pixelTransform.channels !== channels) {
    throw new Error(`createLoader: pixelTransform is for ${pixelTransform.channels} channel(s), the dataset has ${channels}.`);
  }
  const pixelsPer = height * width * channels;
  let stats: EpochStats | null = null;

  // Batch arrays are reused where the backend copies a new tensor's values (wasm into its heap,
  // tfjs-node into a TF tensor): a fresh 19 MB array per batch of 32 224x224 images costs page
  // faults on every first write. Backends that keep the array itself (cpu, webgl) get a new one.
  const spare: Float32Array[] = [];
  function takeBuffer(length: number): Float32Array {
    const i = spare.findIndex((a) => a.length === length);
    return i >= 0 ? (spare.splice(i, 1)[0] as Float32Array) : new Float32Array(length);
  }
  function giveBack(array: Float32Array): void {
    const backend = tf.getBackend();
    if ((backend === 'wasm' || backend === 'tensorflow') && spare.length < prefetch + 2) spare.push(array);
  }

  // At most `concurrency` asynchronous gets in flight, started in order (earlier batches first).
  let active = 0;
  const waiting: (() => void)[] = [];
  const release = (): void => {
    active--;
    const next = waiting.shift();
    if (next) {
      active++;
      next();
    }
  };
  function limitedGet(index: number, rng: Rng): Sample | SkippedSample | Promise<Sample | SkippedSample> {
    const start = (): Sample | SkippedSample | Promise<Sample | SkippedSample> => {
      let r: Sample | SkippedSample | Promise<Sample | SkippedSample>;
      try {
        r = dataset.get(index, rng);
      } catch (err) {
        release();
        throw err;
      }
      if (typeof (r as Promise<unknown>).then === 'function') return Promise.resolve(r).finally(release);
      release();
      return r;
    };
    if (active < concurrency) {
      active++;
      return start();
    }
    return new Promise<Sample | SkippedSample>((resolve, reject) => {
      waiting.push(() => {
        try {
          Promise.resolve(start()).then(resolve, reject);
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  async function decodeBatch(epoch: number, order: Int32Array, b: number): Promise<Decoded> {
    const start = b * batchSize;
    const end = Math.min(start + batchSize, n);
    const pending: (Sample | SkippedSample | Promise<Sample | SkippedSample>)[] = [];
    for (let pos = start; pos < end; pos++) {
      pending.push(limitedGet(order[pos] as number, createRng(seed, epoch, SAMPLE_STREAM, pos)));
    }
    const results = await Promise.all(pending);
    const decoded: Decoded = { samples: [], indices: [], skipped: [] };
    results.forEach((r, k) => {
      const index = order[start + k] as number;
      if (isSkipped(r)) {
        decoded.skipped.push({ index, file: r.file, reason: r.reason });
        return;
      }
      const expected = r.crop ? r.crop.height * r.crop.width * channels : pixelsPer;
      if (r.pixels.length !== expected) {
        const shape = r.crop ? `its crop region ${r.crop.height}x${r.crop.width}x${channels}` : `${height}x${width}x${channels}`;
        throw new Error(`dataset.get(${index}) returned ${r.pixels.length} pixel values, expected ${shape} = ${expected}.`);
      }
      if (!Number.isInteger(r.label) || r.label < 0 || r.label >= numClasses) {
        throw new RangeError(`dataset.get(${index}) returned label ${r.label}, out of range for ${numClasses} classes.`);
      }
      decoded.samples.push(r);
      decoded.indices.push(index);
    });
    if (pixelTransform && decoded.samples.length > 0) {
      // One fused pass per image into the batch array; draws depend only on (seed, epoch, b) and the batch's size.
      const rng = createRng(seed, epoch, TRANSFORM_STREAM, b);
      const draws = pixelTransform.sample(rng, decoded.samples.length);
      const images = takeBuffer(decoded.samples.length * pixelsPer);
      decoded.samples.forEach((s, i) => {
        const draw = draws[i]!;
        const crop = s.crop;
        if (!crop) pixelTransform.apply(s.pixels, height, width, draw, images, i * pixelsPer);
        else {
          // Resize fused with the photometric pass; a flip the dataset drew composes with the drawn one.
          const d = crop.flip ? { ...draw, flip: !draw.flip } : draw;
          pixelTransform.applyResized(s.pixels, crop.height, crop.width, crop.box, height, width, d, images, i * pixelsPer);
        }
      });
      decoded.images = images;
      decoded.rng = rng;
    } else if (decoded.samples.some((s) => s.crop)) {
      const images = takeBuffer(decoded.samples.length * pixelsPer);
      const passOptions = { channels: channels as 1 | 3 };
      decoded.samples.forEach((s, i) => {
        const crop = s.crop;
        if (!crop) images.set(s.pixels, i * pixelsPer);
        else applyPixelDrawResized(s.pixels, crop.height, crop.width, crop.box, height, width, { flip: crop.flip }, passOptions, images, i * pixelsPer);
      });
      decoded.images = images;
    }
    return decoded;
  }

  function toBatch(decoded: Decoded, epoch: number, b: number, transform: BatchTransform | undefined): Batch {
    const count = decoded.samples.length;
    const labels = new Float32Array(count * numClasses);
    let images = decoded.images;
    if (!images) {
      images = takeBuffer(count * pixelsPer);
      for (let i = 0; i < count; i++) images.set((decoded.samples[i] as Sample).pixels, i * pixelsPer);
    }
    decoded.samples.forEach((s, i) => {
      labels[i * numClasses + s.label] = 1;
    });
    const tensors = tf.tidy(() => {
      const batch: Batch = {
        images: tf.tensor4d(images, [count, height, width, channels], 'float32'),
        labels: tf.tensor2d(labels, [count, numClasses], 'float32'),
      };
      giveBack(images);
      const out = transform ? transform(batch, decoded.rng ?? createRng(seed, epoch, TRANSFORM_STREAM, b)) : batch;
      return { images: out.images, labels: out.labels } as unknown as tf.TensorContainer;
    }) as unknown as Batch;
    return { images: tensors.images, labels: tensors.labels, indices: Int32Array.from(decoded.indices) };
  }

  async function* run(epoch: number, fromBatch: number, transform: BatchTransform | undefined): AsyncGenerator<Batch> {
    const order = Int32Array.from({ length: n }, (_, i) => i);
    if (shuffle) {
      // Fisher–Yates from the epoch's own stream (same draws as Rng.shuffle, without an n-element JS array).
      const rng = createRng(seed, epoch, ORDER_STREAM);
      for (let i = n - 1; i > 0; i--) {
        const j = rng.int(0, i + 1);
        const tmp = order[i] as number;
        order[i] = order[j] as number;
        order[j] = tmp;
      }
    }
    // Bounded queue: at most `prefetch` batches decode ahead of the one the consumer holds.
    const queue = new Map<number, Promise<Decoded>>();
    const enqueue = (b: number): void => {
      if (b >= stepsPerEpoch || queue.has(b)) return;
      const p = decodeBatch(epoch, order, b);
      p.catch(() => {}); // surfaced when the consumer reaches this batch; never unhandled
      queue.set(b, p);
    };
    const skipped: EpochStats['skipped'][number][] = [];
    let samples = 0;
    let batches = 0;
    for (let b = fromBatch; b < stepsPerEpoch; b++) {
      for (let k = b; k <= b + prefetch; k++) enqueue(k);
      const decoded = await (queue.get(b) as Promise<Decoded>);
      queue.delete(b);
      skipped.push(...decoded.skipped);
      if (decoded.samples.length === 0) continue;
      samples += decoded.samples.length;
      batches++;
      // Tensors are made only here, so a consumer that stops early leaves nothing behind.
      yield toBatch(decoded, epoch, b, transform);
    }
    stats = { epoch, batches, samples, skipped };
    if (onEpochEnd) onEpochEnd(stats);
    else if (skipped.length > 0) {
      const shown = skipped.slice(0, 5).map((s) => `${s.file} (${s.reason})`);
      console.warn(
        `[bag-of-tricks/data] epoch ${epoch}: skipped ${skipped.length} corrupt image(s): ${shown.join('; ')}` +
          (skipped.length > 5 ? `; and ${skipped.length - 5} more (loader.stats.skipped has them all)` : ''),
      );
    }
  }

  return {
    dataset,
    batchSize,
    stepsPerEpoch,
    get stats() {
      return stats;
    },
    epoch(epoch: number, { fromBatch = 0, transform = options.transform }: EpochOptions = {}): AsyncIterable<Batch> {
      if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`loader.epoch(${epoch}): epoch must be an integer >= 0.`);
      if (!Number.isInteger(fromBatch) || fromBatch < 0 || fromBatch > stepsPerEpoch) {
        throw new RangeError(`loader.epoch(${epoch}, { fromBatch: ${fromBatch} }): fromBatch must be an integer in [0, ${stepsPerEpoch}].`);
      }
      if (transform !== undefined && typeof transform !== 'function') {
        throw new TypeError(`loader.epoch(${epoch}, { transform }): transform must be a function (batch, rng) => batch, got ${typeof transform}.`);
      }
      return { [Symbol.asyncIterator]: () => run(epoch, fromBatch, transform) };
    },
  };
}
