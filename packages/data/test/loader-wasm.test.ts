import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@bag-of-tricks/backend';
import { afterAll, describe, expect, it } from 'vitest';
import type { Dataset, Sample } from '../src/index';
import { createLoader } from '../src/index';

afterAll(async () => {
  await initBackend('cpu', { log: () => {} });
});

/** n 3x4x3 images of bytes that differ per index and per position. */
function bytesDataset(n: number): Dataset {
  return {
    size: n,
    numClasses: 3,
    height: 3,
    width: 4,
    channels: 3,
    async get(index: number): Promise<Sample> {
      return { pixels: Uint8Array.from({ length: 36 }, (_, k) => (index * 31 + k * 7) % 256), label: index % 3 };
    },
  };
}

async function epochs(backend: 'cpu' | 'wasm'): Promise<{ images: number[][]; numTensors: number[] }> {
  expect(await initBackend(backend, { log: () => {} })).toBe(backend);
  const loader = createLoader(bytesDataset(23), { batchSize: 5, seed: 3, prefetch: 2 });
  const images: number[][] = [];
  const numTensors: number[] = [];
  const held: tf.Tensor[] = [];
  for (const epoch of [0, 1]) {
    for await (const b of loader.epoch(epoch)) {
      // Keep every batch alive until the end: a reused array must never change a tensor already handed out.
      held.push(b.images, b.labels);
    }
    numTensors.push(tf.memory().numTensors);
  }
  for (let i = 0; i < held.length; i += 2) images.push(Array.from(held[i]!.dataSync()));
  tf.dispose(held);
  numTensors.push(tf.memory().numTensors);
  return { images, numTensors };
}

describe('loader batch-array reuse on the wasm backend', () => {
  it('gives the same batches as the cpu backend (which gets a fresh array per batch), and leaks nothing', async () => {
    const cpu = await epochs('cpu');
    const wasm = await epochs('wasm');
    expect(wasm.images).toEqual(cpu.images);
    // 2 tensors per batch held: 5 batches an epoch, then all disposed.
    const base = wasm.numTensors[2]!;
    expect(wasm.numTensors).toEqual([base + 10, base + 20, base]);
  });
});
