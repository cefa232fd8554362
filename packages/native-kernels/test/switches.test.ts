import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectTensorsClose } from '@bag-of-tricks/test-utils';
import { setNativeKernelSwitches } from '../src/index';
import { input, setupBackends } from './helpers';

beforeAll(setupBackends);
afterAll(() => setNativeKernelSwitches({ winograd: true, directBf16: true }));

// 3x3 stride 1 with 32+ channels in and out: the native kernels take Winograd F(2x2, 3x3) there.
const conv = (): Float32Array =>
  tf.tidy(() => {
    const x = input([2, 7, 9, 33], 1), w = input([3, 3, 33, 40], 2);
    return Float32Array.from(tf.conv2d(tf.tensor4d(x.data, x.shape as [number, number, number, number]), tf.tensor4d(w.data, w.shape as [number, number, number, number]), 1, 'same').dataSync());
  });

it('setNativeKernelSwitches({ winograd: false }) takes the GEMM instead of Winograd (other rounding), and back', () => {
  const wino = conv();
  setNativeKernelSwitches({ winograd: false });
  const gemm = conv();
  setNativeKernelSwitches({ winograd: true });
  expect(conv()).toEqual(wino);
  expect(gemm).not.toEqual(wino); // a different summation: not bitwise equal
  expectTensorsClose(gemm, wino, { rtol: 1e-4, atol: 1e-4 });
});

it('rejects an unknown switch or a non-boolean, naming it', () => {
  expect(() => setNativeKernelSwitches({ winogrd: false } as never)).toThrow(/unknown switch "winogrd"/);
  expect(() => setNativeKernelSwitches({ winograd: 'no' } as never)).toThrow(/winograd must be true or false/);
});
