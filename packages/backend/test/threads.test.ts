import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { afterAll, expect, it } from 'vitest';
import { initBackend, wasmThreadsInUse } from '../src/index';
import { simdCalls } from '../src/kernels/simd-module';

// One file, one process: the wasm module starts once, here with 2 threads, whatever the core count.
it('starts the threaded wasm build in Node with the asked-for thread count', async () => {
  const messages: string[] = [];
  expect(await initBackend('wasm', { wasmThreads: 2, log: (m) => messages.push(m) })).toBe('wasm');
  expect(await wasmThreadsInUse()).toBe(2);
  expect(messages.some((m) => m.includes('2 wasm threads on worker_threads'))).toBe(true);
  // The start-up patches are undone.
  expect(URL.createObjectURL(new Blob(['x'], { type: 'application/javascript' }))).toMatch(/^blob:/);
});

function onBackend<T>(name: string, f: () => T): T {
  const previous = tf.getBackend();
  tf.setBackend(name);
  try {
    return f();
  } finally {
    tf.setBackend(previous);
  }
}

it('gives the cpu backend results for conv, matmul and their gradients on 2 threads (our SIMD kernels on the shared memory)', () => {
  const x = tf.randomNormal<tf.Rank.R4>([8, 17, 17, 16], 0, 1, 'float32', 1);
  const w = tf.randomNormal<tf.Rank.R4>([3, 3, 16, 32], 0, 0.2, 'float32', 2);
  const a = tf.randomNormal([129, 257], 0, 1, 'float32', 3);
  const b = tf.randomNormal([257, 65], 0, 1, 'float32', 4);
  const compute = () =>
    tf.tidy(() => {
      const y = tf.relu(tf.conv2d(x, w, 2, 'same'));
      const grads = tf.grads((xi: tf.Tensor, wi: tf.Tensor) => tf.sum(tf.square(tf.conv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, 1, 'same'))))([x, w]);
      return [y, tf.matMul(a, b), grads[0]!, grads[1]!].map((t) => t.dataSync().slice());
    });
  const before = simdCalls.winograd;
  const wasm = compute();
  // The stride-1 conv, its input and filter gradients: Winograd on the threaded build's shared memory.
  expect(simdCalls.winograd - before).toBeGreaterThanOrEqual(3);
  const cpu = onBackend('cpu', compute);
  for (let i = 0; i < wasm.length; i++) {
    const [got, want] = [wasm[i]!, cpu[i]!];
    expect(got.length).toBe(want.length);
    // Relative 1e-4 per element, plus 1e-6 of the largest value: the filter gradient sums 2312
    // products of magnitude up to ~3000, and float32 rounding of such sums (cpu's too) reaches ~1e-3.
    let scale = 0;
    for (const v of want) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    for (let j = 0; j < got.length; j++) worst = Math.max(worst, Math.abs(got[j]! - want[j]!) / (1e-4 * (1 + Math.abs(want[j]!)) + 1e-6 * scale));
    expect(worst).toBeLessThan(1);
  }
  tf.dispose([x, w, a, b]);
});

afterAll(() => tf.disposeVariables());
