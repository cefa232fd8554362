import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, expect, it } from 'vitest';
import { WASM_TRAINING_KERNELS, registerWasmTrainingKernels, unregisterWasmTrainingKernels } from '../src/index';
import { setupBackends } from './helpers';

beforeAll(setupBackends);

it('initBackend registers every training kernel on wasm', () => {
  for (const { kernelName, kernelFunc } of WASM_TRAINING_KERNELS) {
    expect(tf.getKernel(kernelName, 'wasm')?.kernelFunc, kernelName).toBe(kernelFunc);
  }
});

it('registering twice is harmless, and unregistering restores the stock kernels', () => {
  registerWasmTrainingKernels();
  registerWasmTrainingKernels();
  unregisterWasmTrainingKernels();
  expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
  const stock = tf.getKernel('Conv2DBackpropInput', 'wasm');
  expect(stock).toBeDefined();
  expect(WASM_TRAINING_KERNELS.some((k) => k.kernelFunc === stock!.kernelFunc)).toBe(false);
  registerWasmTrainingKernels();
  expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
});
