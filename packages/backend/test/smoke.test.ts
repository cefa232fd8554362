import * as tf from '@tensorflow/tfjs-core';
import { it, expect } from 'vitest';
import { initBackend } from '../src/index';
it('wasm starts and computes', async () => {
  expect(await initBackend('wasm')).toBe('wasm');
  expect(tf.getBackend()).toBe('wasm');
  expect(Array.from(tf.add(tf.tensor1d([1, 2]), 1).dataSync())).toEqual([2, 3]);
});

it('initBackend makes gradients available (tfjs-core alone registers none in Node)', async () => {
  await initBackend('cpu', { log: () => {} });
  const g = tf.grad((x: tf.Tensor) => tf.sum(tf.relu(x)))(tf.tensor1d([-1, 2]));
  expect(Array.from(g.dataSync())).toEqual([0, 1]);
});
