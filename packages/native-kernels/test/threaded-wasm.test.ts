// Threaded wasm keeps its heap in a SharedArrayBuffer; the addon reads it through the HEAPU8
// view (V8 hands out the same backing store), so the native kernels apply there too.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { expect, it } from 'vitest';
import { expectTensorsClose } from '@bag-of-tricks/test-utils';
import { initBackend, wasmThreadsInUse } from '@bag-of-tricks/backend';
// The same module instance initBackend's dynamic import loads (the built package).
import { nativeKernelStats, resetNativeKernelStats } from '@bag-of-tricks/native-kernels';
import { input, runOn } from './helpers';

it('with 2 wasm threads (SharedArrayBuffer heap) the native kernels run and match the cpu backend', async () => {
  expect(await initBackend('wasm', { wasmThreads: 2, native: true, log: () => {} })).toBe('wasm');
  expect(await wasmThreadsInUse()).toBe(2);
  const heap = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8;
  expect(heap.buffer).toBeInstanceOf(SharedArrayBuffer);

  resetNativeKernelStats();
  const arrays = { x: input([3, 11, 11, 6], 1), f: input([3, 3, 6, 19], 2) };
  const lossGrads = (t: Record<string, tf.Tensor>) => {
    const [gx, gf] = tf.grads((x: tf.Tensor, f: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, 'same'))))([t.x!, t.f!]);
    return tf.concat([tf.reshape(gx!, [-1]), tf.reshape(gf!, [-1])]);
  };
  const wasm = await runOn('wasm', arrays, lossGrads);
  const stats = nativeKernelStats();
  for (const k of ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']) {
    expect(stats[k]?.native, k).toBeGreaterThan(0);
    expect(stats[k]?.fallback ?? 0, `${k}: ${stats[k]?.lastFallbackReason}`).toBe(0);
  }
  const cpu = await runOn('cpu', arrays, lossGrads);
  expectTensorsClose(wasm.data, cpu.data, { rtol: 1e-4, atol: 1e-4 });
});
