import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterEach, describe, expect, it } from 'vitest';
import { expectTensorsClose } from '@bag-of-tricks/test-utils';
import { initBackend, releaseNativeKernels, useNativeKernels, WASM_TRAINING_KERNELS } from '../src/index';
import { input, runOn } from './helpers';

const saved = process.env.BOT_NATIVE;
afterEach(() => {
  if (saved === undefined) delete process.env.BOT_NATIVE;
  else process.env.BOT_NATIVE = saved;
});

const notFound = async (): Promise<never> => {
  throw Object.assign(new Error("Cannot find package '@bag-of-tricks/native-kernels'"), { code: 'ERR_MODULE_NOT_FOUND' });
};
const unbuilt = async () => ({
  nativeKernelsAvailable: () => false,
  nativeLoadError: () => "failed to build: could not run the C++ compiler 'c++'",
  registerNativeKernels: () => {
    throw new Error('must not be called');
  },
  unregisterNativeKernels: () => {},
  nativeInfo: () => ({ isa: null, threads: null }),
});

describe('useNativeKernels says which it chose and why', () => {
  it('not installed: off in auto, a clear error when required', async () => {
    delete process.env.BOT_NATIVE;
    const logs: string[] = [];
    const r = await useNativeKernels('auto', (m) => logs.push(m), notFound);
    expect(r.used).toBe(false);
    expect(logs).toEqual([expect.stringMatching(/native kernels: off \(not installed \(npm i @bag-of-tricks\/native-kernels\)/)]);
    await expect(useNativeKernels(true, () => {}, notFound)).rejects.toThrow(/required.*not installed.*BOT_NATIVE=0/);
  });

  it('installed but not built: off with the build failure as the reason', async () => {
    delete process.env.BOT_NATIVE;
    const logs: string[] = [];
    const r = await useNativeKernels('auto', (m) => logs.push(m), unbuilt);
    expect(r).toEqual({ used: false, reason: "failed to build: could not run the C++ compiler 'c++'" });
    expect(logs[0]).toMatch(/native kernels: off \(failed to build/);
  });

  it('BOT_NATIVE=0 overrides native: true; a bad BOT_NATIVE is an error naming the values', async () => {
    process.env.BOT_NATIVE = '0';
    let imported = false;
    const r = await useNativeKernels(true, () => {}, async () => {
      imported = true;
      return unbuilt();
    });
    expect(r).toEqual({ used: false, reason: 'disabled' });
    expect(imported).toBe(false);
    process.env.BOT_NATIVE = 'fast';
    await expect(useNativeKernels('auto', () => {})).rejects.toThrow(/BOT_NATIVE=fast is not understood: use never \(or 0\/off\), always \(or 1\/on\) or auto\. BOT_NATIVE: .*always = required/);
  });
});

describe('the native kernel switches come from the flag registry', () => {
  it('BOT_NATIVE_NO_WINOGRAD=1 / BOT_NATIVE_NO_DIRECT_BF16 reach the addon through setNativeKernelSwitches when it loads', async () => {
    const seen: Array<{ winograd?: boolean; directBf16?: boolean }> = [];
    const fake = async () => ({
      nativeKernelsAvailable: () => true,
      nativeLoadError: () => null,
      registerNativeKernels: () => ['Conv2D'],
      unregisterNativeKernels: () => {},
      nativeInfo: () => ({ isa: 'avx512', threads: 2 }),
      setNativeKernelSwitches: (s: { winograd?: boolean; directBf16?: boolean }) => seen.push(s),
    });
    process.env.BOT_NATIVE = '1';
    process.env.BOT_NATIVE_NO_WINOGRAD = '1';
    try {
      await useNativeKernels('auto', () => {}, fake);
      delete process.env.BOT_NATIVE_NO_WINOGRAD;
      process.env.BOT_NATIVE_NO_DIRECT_BF16 = 'always';
      await useNativeKernels('auto', () => {}, fake);
    } finally {
      delete process.env.BOT_NATIVE_NO_WINOGRAD;
      delete process.env.BOT_NATIVE_NO_DIRECT_BF16;
      releaseNativeKernels();
    }
    expect(seen).toEqual([
      { winograd: false, directBf16: true },
      { winograd: true, directBf16: false },
    ]);
  });
});

describe('initBackend with the real package', () => {
  it('native: true wraps the wasm convolutions (results equal the cpu backend); native: false restores the wasm kernels', async () => {
    delete process.env.BOT_NATIVE;
    const logs: string[] = [];
    expect(await initBackend('wasm', { native: true, log: (m) => logs.push(m) })).toBe('wasm');
    expect(logs.some((m) => /native kernels: on \((avx512|avx2), \d+ threads: Conv2D, FusedConv2D, Conv2DBackpropInput, Conv2DBackpropFilter/.test(m))).toBe(true);
    const ours = WASM_TRAINING_KERNELS.find((k) => k.kernelName === 'Conv2DBackpropFilter')!.kernelFunc;
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc).not.toBe(ours);

    const arrays = { x: input([2, 9, 9, 5], 1), f: input([3, 3, 5, 7], 2) };
    const grad = (t: Record<string, tf.Tensor>) =>
      tf.grad((w: tf.Tensor) => tf.sum(tf.square(tf.conv2d(t.x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same'))))(t.f!);
    const wasm = await runOn('wasm', arrays, grad);
    const cpu = await runOn('cpu', arrays, grad);
    expectTensorsClose(wasm.data, cpu.data, { rtol: 1e-4, atol: 1e-4 });

    // A second initBackend does not stack wrappers, and native: false leaves the plain wasm kernels.
    expect(await initBackend('wasm', { native: true, log: () => {} })).toBe('wasm');
    expect(await initBackend('wasm', { native: false, log: (m) => logs.push(m) })).toBe('wasm');
    expect(logs.at(-1)).toMatch(/native kernels: off \(disabled; native: false\)/);
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc).toBe(ours);
  });
});
