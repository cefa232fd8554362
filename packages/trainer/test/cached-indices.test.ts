import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@bag-of-tricks/backend';
import { createLoader, inMemoryDataset } from '@bag-of-tricks/data';
import type { CachedTeacherLogits } from '@bag-of-tricks/distill';
import { beforeAll, expect, it } from 'vitest';
import { runTrainingLoop } from '../src';

beforeAll(async () => {
  await initBackend('wasm', { log: () => {} });
});

it("cached teacher mode: every step gets the cached logits of exactly its batch's samples (shuffled, every epoch, after a resume)", async () => {
  const n = 23;
  // One-pixel images whose value is their own index; the cache's row i is [i, 1000 + i].
  const ds = inMemoryDataset({ images: Uint8Array.from({ length: n }, (_, i) => i), labels: new Uint8Array(n), height: 1, width: 1, numClasses: 2 });
  const logits = tf.tensor2d(Array.from({ length: n }, (_, i) => [i, 1000 + i]));
  const cache: CachedTeacherLogits = { logits, gather: (idx) => tf.gather(logits, Array.from(idx)) as tf.Tensor2D, dispose: () => logits.dispose() };
  const model = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: [1, 1, 1] }), tfl.layers.dense({ units: 2 })] });
  const seen: { images: number[]; teacher: number[][] }[] = [];
  const options = (position: { step: number; epoch: number; batchInEpoch: number }) => ({
    model,
    optimizer: tf.train.sgd(0),
    schedule: () => 0,
    loss: () => tf.scalar(0),
    decay: { decay: [], excluded: [] },
    weightDecay: 0,
    epochs: 2,
    trainLoader: createLoader(ds, { batchSize: 4, seed: 5, shuffle: true, dropLast: true, prefetch: 2 }),
    trainTransform: () => (b: { images: tf.Tensor4D; labels: tf.Tensor2D }) => ({ images: tf.clone(b.images), labels: tf.clone(b.labels) }),
    evalLoader: createLoader(ds, { batchSize: 8, seed: 0, shuffle: false }),
    cachedTeacher: { cache },
    position,
    history: { steps: [], epochs: [] },
    checkpointEvery: 0,
    logEvery: 1,
    trainStep: async (batch: { images: tf.Tensor4D }, teacher?: tf.Tensor) => {
      seen.push({ images: Array.from(batch.images.dataSync()), teacher: teacher!.arraySync() as number[][] });
      return 1;
    },
  });
  await runTrainingLoop(options({ step: 0, epoch: 0, batchInEpoch: 0 }));
  expect(seen).toHaveLength(10); // 5 full batches of 4 per epoch, 2 epochs
  // Resumed in the middle of epoch 1: the skipped batches must not shift the lookup.
  await runTrainingLoop(options({ step: 7, epoch: 1, batchInEpoch: 2 }));
  expect(seen).toHaveLength(13);
  for (const s of seen) expect(s.teacher).toEqual(s.images.map((i) => [i, 1000 + i]));
  expect(seen[10]!.images).toEqual(seen[7]!.images); // the resumed run saw epoch 1's batch 2 again
  expect(new Set(seen.slice(0, 5).flatMap((s) => s.images)).size).toBe(20);
  cache.dispose();
});
