import * as tf from '@tensorflow/tfjs-core';
import { it, expect } from 'vitest';
import { initBackend } from '../src/index';
it('wasm starts and computes', async () => {
  expect(await initBackend('wasm')).toBe('wasm');
  expect(tf.getBackend()).toBe('wasm');
  expect(Array.from(tf.add(tf.tensor1d([1, 2]), 1).dataSync())).toEqual([2, 3]);
});
