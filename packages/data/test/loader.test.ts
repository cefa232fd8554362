import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { Batch, BatchTransform, Rng } from '@bag-of-tricks/core';
import { createLoader, inMemoryDataset, type Dataset, type LoaderOptions, type Sample } from '../src/index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** n 1x1x1 images whose single pixel is the example's index; label = index mod k. */
function indexDataset(n: number, k = 3) {
  return inMemoryDataset({
    images: Float32Array.from({ length: n }, (_, i) => i),
    labels: Int32Array.from({ length: n }, (_, i) => i % k),
    height: 1,
    width: 1,
    numClasses: k,
  });
}

/**
 * An asynchronous dataset with per-sample randomness and uneven, deliberately out-of-order
 * completion times, like a decoder on a thread pool.
 */
function asyncRandomDataset(n: number): Dataset {
  return {
    size: n,
    numClasses: 4,
    height: 2,
    width: 2,
    channels: 1,
    get(index: number, rng: Rng): Promise<Sample> {
      const pixels = Float32Array.from({ length: 4 }, () => index * 10 + rng.uniform());
      const delay = (index * 7) % 5;
      return new Promise((resolve) => setTimeout(() => resolve({ pixels, label: index % 4 }), delay));
    },
  };
}

const addNoise: BatchTransform = (batch, rng) => ({
  images: tf.add(batch.images, tf.randomUniform(batch.images.shape, 0, 1, 'float32', rng.seed())),
  labels: batch.labels,
});

async function collect(ds: Dataset, options: LoaderOptions, epoch = 0) {
  const loader = createLoader(ds, options);
  const out: { images: Float32Array; shape: number[]; labels: number[][] }[] = [];
  for await (const b of loader.epoch(epoch)) {
    out.push({ images: b.images.dataSync() as Float32Array, shape: b.images.shape, labels: b.labels.arraySync() as number[][] });
    tf.dispose([b.images, b.labels]);
  }
  return out;
}

const firstPixels = (batches: { images: Float32Array }[]) => batches.flatMap((b) => Array.from(b.images));

describe('createLoader', () => {
  it('sees every example exactly once per epoch, with one-hot labels', async () => {
    const ds = indexDataset(10);
    const batches = await collect(ds, { batchSize: 4, seed: 1 });
    expect(batches.map((b) => b.shape)).toEqual([[4, 1, 1, 1], [4, 1, 1, 1], [2, 1, 1, 1]]);
    const seen = firstPixels(batches);
    expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(seen).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]); // shuffled
    const labels = batches.flatMap((b) => b.labels);
    labels.forEach((row, i) => {
      const expected = [0, 0, 0];
      expected[(seen[i] as number) % 3] = 1;
      expect(row).toEqual(expected);
    });
  });

  it('same seed and epoch: the same batches bit for bit; other epochs and seeds differ', async () => {
    const ds = indexDataset(50);
    const a = firstPixels(await collect(ds, { batchSize: 8, seed: 7 }, 3));
    const b = firstPixels(await collect(ds, { batchSize: 8, seed: 7 }, 3));
    expect(b).toEqual(a);
    expect(firstPixels(await collect(ds, { batchSize: 8, seed: 7 }, 4))).not.toEqual(a);
    expect(firstPixels(await collect(ds, { batchSize: 8, seed: 8 }, 3))).not.toEqual(a);
    // Reading epoch 4 first does not change epoch 3: an epoch is a function of (seed, epoch) alone.
    const loader = createLoader(ds, { batchSize: 8, seed: 7 });
    for await (const x of loader.epoch(4)) tf.dispose([x.images, x.labels]);
    const again: number[] = [];
    for await (const x of loader.epoch(3)) {
      again.push(...x.images.dataSync());
      tf.dispose([x.images, x.labels]);
    }
    expect(again).toEqual(a);
  });

  it('fromBatch resumes mid-epoch with exactly the tail of the full epoch', async () => {
    const ds = asyncRandomDataset(23);
    const options = { batchSize: 4, seed: 5, transform: addNoise };
    const full = await collect(ds, options, 1);
    const loader = createLoader(ds, options);
    const tail: Float32Array[] = [];
    for await (const b of loader.epoch(1, { fromBatch: 4 })) {
      tail.push(b.images.dataSync() as Float32Array);
      tf.dispose([b.images, b.labels]);
    }
    expect(tail.map((t) => Array.from(t))).toEqual(full.slice(4).map((b) => Array.from(b.images)));
    expect(() => loader.epoch(1, { fromBatch: 7 })).toThrow('fromBatch must be an integer in [0, 6]');
  });

  it('epoch(e, { transform }) replaces the loader transform for that epoch, on stream (seed, e, 2, batch), resumable', async () => {
    const ds = indexDataset(12);
    // Records the first uniform of the stream each batch gets; adds 1000 so the images show which transform ran.
    const drawn: number[] = [];
    const recording: BatchTransform = (batch, rng) => {
      drawn.push(rng.uniform());
      return { images: tf.add(batch.images, 1000), labels: batch.labels };
    };
    const loader = createLoader(ds, { batchSize: 4, seed: 9, transform: addNoise });
    const read = async (e: number, options?: Parameters<typeof loader.epoch>[1]) => {
      const out: number[][] = [];
      for await (const b of loader.epoch(e, options)) {
        out.push(Array.from(b.images.dataSync()));
        tf.dispose([b.images, b.labels]);
      }
      return out;
    };
    const plain = (await read(2, { transform: (b) => ({ images: tf.clone(b.images), labels: tf.clone(b.labels) }) })).flat();
    const withRecording = await read(2, { transform: recording });
    // Every pixel is its dataset index (0..11) + 1000: the epoch's transform ran, the loader's own (noise) did not.
    expect(withRecording.flat()).toEqual(plain.map((v) => v + 1000));
    expect([...plain].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    // The stream of batch b is createRng(seed, epoch, 2, b): worked out here from core's generator.
    const { createRng } = await import('@bag-of-tricks/core');
    expect(drawn).toEqual([0, 1, 2].map((b) => createRng(9, 2, 2, b).uniform()));
    // Resumed at batch 1: the same draws and batches as the tail of the full epoch.
    drawn.length = 0;
    expect(await read(2, { fromBatch: 1, transform: recording })).toEqual(withRecording.slice(1));
    expect(drawn).toEqual([1, 2].map((b) => createRng(9, 2, 2, b).uniform()));
    // Without the option the loader's own transform runs again.
    const noisy = (await read(2)).flat();
    expect(noisy.every((v, i) => v >= (plain[i] as number) && v < (plain[i] as number) + 1)).toBe(true);
    expect(noisy).not.toEqual(plain);
    expect(() => loader.epoch(0, { transform: 3 as never })).toThrow('transform must be a function');
  });

  it('dropLast drops the short batch; shuffle: false keeps dataset order', async () => {
    const ds = indexDataset(10);
    const loader = createLoader(ds, { batchSize: 4, seed: 0, dropLast: true });
    expect(loader.stepsPerEpoch).toBe(2);
    expect(createLoader(ds, { batchSize: 4, seed: 0 }).stepsPerEpoch).toBe(3);
    const dropped = await collect(ds, { batchSize: 4, seed: 0, dropLast: true });
    expect(dropped.map((b) => b.shape[0])).toEqual([4, 4]);
    expect(new Set(firstPixels(dropped)).size).toBe(8);
    expect(firstPixels(await collect(ds, { batchSize: 4, seed: 0, shuffle: false }))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(() => createLoader(ds, { batchSize: 11, seed: 0, dropLast: true })).toThrow('make no batch');
  });

  it('prefetch depth and decode timing do not change a single value (order, per-image rng, transform rng)', async () => {
    const ds = asyncRandomDataset(37);
    const results = [];
    for (const prefetch of [0, 1, 4, 20]) {
      results.push(await collect(ds, { batchSize: 5, seed: 11, prefetch, transform: addNoise }, 2));
    }
    const reference = results[0]!;
    expect(reference).toHaveLength(8);
    for (const r of results.slice(1)) {
      expect(r.map((b) => b.shape)).toEqual(reference.map((b) => b.shape));
      r.forEach((b, i) => expect(Buffer.from(b.images.buffer).equals(Buffer.from(reference[i]!.images.buffer))).toBe(true));
      expect(r.map((b) => b.labels)).toEqual(reference.map((b) => b.labels));
    }
  });

  it('concurrency bounds the gets in flight without changing a value; a throwing get still surfaces', async () => {
    const inner = asyncRandomDataset(23);
    let active = 0;
    let most = 0;
    const ds: Dataset = {
      ...inner,
      async get(index: number, rng: Rng) {
        active++;
        most = Math.max(most, active);
        try {
          return await inner.get(index, rng);
        } finally {
          active--;
        }
      },
    };
    const reference = await collect(asyncRandomDataset(23), { batchSize: 4, seed: 5, prefetch: 3, concurrency: 100 });
    expect(reference).toHaveLength(6);
    for (const concurrency of [1, 2, 4]) {
      most = 0;
      const r = await collect(ds, { batchSize: 4, seed: 5, prefetch: 3, concurrency });
      expect(most).toBe(concurrency);
      expect(firstPixels(r)).toEqual(firstPixels(reference));
    }
    const failing: Dataset = { ...inner, get: (i: number, rng: Rng) => (i === 9 ? Promise.reject(new Error('broken file 9')) : inner.get(i, rng)) };
    await expect(collect(failing, { batchSize: 4, seed: 5, shuffle: false, concurrency: 2 })).rejects.toThrow(/broken file 9/);
    expect(() => createLoader(ds, { batchSize: 4, seed: 1, concurrency: 0 })).toThrow(/concurrency must be an integer >= 1, got 0/);
  });

  it('prefetches: batches decode ahead of the consumer, bounded by `prefetch`', async () => {
    const started: number[] = [];
    const base = indexDataset(40);
    const ds: Dataset = { ...base, get: (i: number) => (started.push(i), base.get(i)) };
    const loader = createLoader(ds, { batchSize: 4, seed: 0, shuffle: false, prefetch: 2 });
    const it = loader.epoch(0)[Symbol.asyncIterator]();
    const first = (await it.next()).value as Batch;
    // Holding batch 0: batches 1 and 2 are in flight, batch 3 is not.
    expect(started.length).toBe(12);
    tf.dispose([first.images, first.labels]);
    await it.return?.();
  });

  it('leaks no tensors: full epochs with a transform, and consumers that stop early', async () => {
    const ds = indexDataset(30);
    const loader = createLoader(ds, { batchSize: 4, seed: 3, transform: addNoise, prefetch: 3 });
    const before = tf.memory().numTensors;
    for (let e = 0; e < 3; e++) {
      for await (const b of loader.epoch(e)) tf.dispose([b.images, b.labels]);
    }
    let n = 0;
    for await (const b of loader.epoch(9)) {
      tf.dispose([b.images, b.labels]);
      if (++n === 2) break;
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('skipped samples shrink their batch, an all-skipped batch is not yielded, and the epoch end warns once', async () => {
    const base = indexDataset(10);
    const ds: Dataset = {
      ...base,
      get: (i: number) => (i < 4 || i === 7 ? { skipped: true as const, file: `f${i}.jpg`, reason: 'truncated' } : base.get(i)),
    };
    const warnings: unknown[] = [];
    const warn = vi.spyOn(console, 'warn').mockImplementation((m: unknown) => void warnings.push(m));
    try {
      const batches = await collect(ds, { batchSize: 4, seed: 0, shuffle: false });
      expect(batches.map((b) => b.shape[0])).toEqual([3, 2]); // [0..3] all skipped; [4..7] lost 7
      expect(firstPixels(batches)).toEqual([4, 5, 6, 8, 9]);
    } finally {
      warn.mockRestore();
    }
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0])).toContain('epoch 0: skipped 5 corrupt image(s): f0.jpg (truncated)');
  });

  it("each batch carries its rows' dataset indices: a shuffled epoch's permutation, skipped images left out, a transform's batch too", async () => {
    // indexDataset's pixel IS the index, so the indices are checked against the images themselves.
    const shuffled = createLoader(indexDataset(10), { batchSize: 4, seed: 3, transform: (b) => ({ images: tf.mul(b.images, 1), labels: b.labels }) });
    const seen: number[] = [];
    for await (const b of shuffled.epoch(1)) {
      expect(b.indices).toBeInstanceOf(Int32Array);
      expect(Array.from(b.indices!)).toEqual(Array.from(b.images.dataSync()));
      seen.push(...b.indices!);
      tf.dispose([b.images, b.labels]);
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(seen).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]); // shuffled

    const base = indexDataset(10);
    const ds: Dataset = { ...base, get: (i: number) => (i === 1 || i === 6 ? { skipped: true as const, file: `f${i}.jpg`, reason: 'truncated' } : base.get(i)) };
    const rows: number[][] = [];
    for await (const b of createLoader(ds, { batchSize: 4, seed: 0, shuffle: false, onEpochEnd: () => {} }).epoch(0)) {
      rows.push(Array.from(b.indices!));
      tf.dispose([b.images, b.labels]);
    }
    expect(rows).toEqual([[0, 2, 3], [4, 5, 7], [8, 9]]);
  });

  it('checks the samples a dataset returns', async () => {
    const bad: Dataset = { size: 2, numClasses: 2, height: 1, width: 1, channels: 1, get: (i) => ({ pixels: new Float32Array(1), label: i * 5 }) };
    await expect(collect(bad, { batchSize: 2, seed: 0 })).rejects.toThrow('returned label 5, out of range for 2 classes');
    expect(() => createLoader(indexDataset(3), { batchSize: 0, seed: 0 })).toThrow('batchSize must be a positive integer');
  });
});
