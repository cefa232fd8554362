import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, expect, it } from 'vitest';
import { expectNoLeak, expectTensorsClose } from '@bag-of-tricks/test-utils';
import { isNativeWrapper, nativeKernelStats, registerNativeKernels, resetNativeKernelStats, unregisterNativeKernels } from '../src/index';
import { input, setupBackends } from './helpers';

beforeAll(setupBackends);

/** conv(stride 2) -> batch norm (batch statistics) -> relu -> conv 1x1 -> loss, gradients of every parameter. */
function gradients(arrays: Record<string, { data: Float32Array; shape: number[] }>): Float32Array[] {
  return tf.tidy(() => {
    const t = Object.fromEntries(Object.entries(arrays).map(([k, a]) => [k, tf.tensor(a.data, a.shape)]));
    const loss = (x: tf.Tensor, w1: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, w2: tf.Tensor) => {
      const y = tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 2, 'same');
      const { mean, variance } = tf.moments(y, [0, 1, 2]);
      const bn = tf.relu(tf.batchNorm(y, mean, variance, beta, gamma, 1e-3));
      const z = tf.conv2d(bn as tf.Tensor4D, w2 as tf.Tensor4D, 1, 'valid');
      return tf.sum(tf.mul(z, t.r!)) as tf.Scalar;
    };
    const g = tf.grads(loss)([t.x!, t.w1!, t.gamma!, t.beta!, t.w2!]);
    return g.map((a) => Float32Array.from(a.dataSync()));
  });
}

it("a conv + BN training step's gradients with native kernels equal the wasm-only gradients", async () => {
  await tf.setBackend('wasm');
  const arrays = {
    x: input([4, 12, 12, 5], 1),
    w1: input([3, 3, 5, 19], 2),
    gamma: input([19], 3),
    beta: input([19], 4),
    w2: input([1, 1, 19, 7], 5),
    r: input([4, 6, 6, 7], 6),
  };
  resetNativeKernelStats();
  const native = gradients(arrays);
  const stats = nativeKernelStats();
  for (const k of ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']) expect(stats[k]?.native ?? 0, k).toBeGreaterThan(0);

  unregisterNativeKernels();
  expect(isNativeWrapper('Conv2D')).toBe(false);
  try {
    resetNativeKernelStats();
    const wasmOnly = gradients(arrays);
    expect(nativeKernelStats()).toEqual({});
    expect(native.length).toBe(5);
    for (let i = 0; i < native.length; i++) expectTensorsClose(native[i]!, wasmOnly[i]!, { rtol: 1e-4, atol: 1e-4 });
  } finally {
    registerNativeKernels();
  }
  expect(isNativeWrapper('Conv2D')).toBe(true);
  await expectNoLeak(() => {
    gradients(arrays);
  }, 3);
});

it('registerNativeKernels is idempotent and unregister restores the kernels beneath', async () => {
  const before = tf.getKernel('Conv2DBackpropFilter', 'wasm');
  registerNativeKernels();
  expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBe(before);
  unregisterNativeKernels();
  const beneath = tf.getKernel('Conv2DBackpropFilter', 'wasm');
  expect(beneath).not.toBe(before);
  expect(isNativeWrapper('Conv2DBackpropFilter')).toBe(false);
  registerNativeKernels();
  expect(isNativeWrapper('Conv2DBackpropFilter')).toBe(true);
});
