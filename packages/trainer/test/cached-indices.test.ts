import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@bag-of-tricks/backend';
import { createLoader, inMemoryDataset } from '@bag-of-tricks/data';
import { beforeAll, expect, it } from 'vitest';
import { recordIndices } from '../src/node/train';

beforeAll(async () => {
  await initBackend('wasm', { log: () => {} });
});

it('cached teacher mode: the recorded sample indices are those of each shuffled batch, every epoch', async () => {
  const n = 23;
  // One-pixel images whose value is their own index.
  const ds = inMemoryDataset({ images: Uint8Array.from({ length: n }, (_, i) => i), labels: new Uint8Array(n), height: 1, width: 1, numClasses: 2 });
  const rec = recordIndices(ds);
  const loader = createLoader(rec.dataset, { batchSize: 4, seed: 5, shuffle: true, dropLast: true, prefetch: 2 });
  for (const epoch of [0, 1]) {
    rec.reset();
    let b = 0;
    for await (const batch of loader.epoch(epoch)) {
      expect(rec.indices(b, 4)).toEqual(Array.from(batch.images.dataSync()));
      tf.dispose([batch.images, batch.labels]);
      b++;
    }
    expect(b).toBe(5);
  }
});
