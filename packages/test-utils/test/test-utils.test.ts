import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { dilateFilter, expectNoLeak, expectTensorsClose, runOn, runOnExact, sizeOf, undilateFilter } from '../src/index';

// The helpers every numeric test leans on must fail when they should: each check below has a pair,
// one just inside the tolerance that passes and one just outside that throws.

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('expectTensorsClose', () => {
  it('default tolerance is atol 1e-6 + rtol 1e-5 * |expected|: 1 + 1.0e-5 passes, 1 + 1.2e-5 fails', () => {
    // allowed |a - e| at e = 1: 1e-6 + 1e-5 = 1.1e-5
    expectTensorsClose([1 + 1.0e-5], [1]);
    expect(() => expectTensorsClose([1 + 1.2e-5], [1])).toThrow(/index 0: actual 1\.000012 vs expected 1 \(rtol 0\.00001, atol 0\.000001\)/);
    expect(() => expectTensorsClose([1 - 1.2e-5], [1])).toThrow(/index 0/); // below as well as above
  });

  it('the relative part scales with |expected|, not |actual|', () => {
    // e = 1e6: allowed 1e-6 + 10 = 10.000001
    expectTensorsClose([1e6 + 9.9], [1e6]);
    expect(() => expectTensorsClose([1e6 + 10.1], [1e6])).toThrow(/index 0/);
    // the band is rtol * |expected|: at rtol 0.6, 1.5 is close to 1 but 2 is not (0.6 * |2| would let it in)
    expectTensorsClose([1.5], [1], { rtol: 0.6, atol: 0 });
    expect(() => expectTensorsClose([2], [1], { rtol: 0.6, atol: 0 })).toThrow(/actual 2 vs expected 1/);
    // e = 0: only atol; a huge actual must not widen the band for itself
    expectTensorsClose([0.9e-6], [0]);
    expect(() => expectTensorsClose([1e6], [0])).toThrow(/actual 1000000 vs expected 0/);
  });

  it('atol and rtol options are used as given; 0 and 0 means bit-equal', () => {
    expectTensorsClose([0.5], [0.4], { atol: 0.1000001, rtol: 0 });
    expect(() => expectTensorsClose([0.5], [0.4], { atol: 0.09, rtol: 0 })).toThrow(/rtol 0, atol 0\.09/);
    expectTensorsClose([3, 4], [3, 4], { atol: 0, rtol: 0 });
    expect(() => expectTensorsClose([3, Math.fround(4 + 2 ** -21)], [3, 4], { atol: 0, rtol: 0 })).toThrow(/index 1/);
  });

  it('names the worst index among several misses', () => {
    expect(() => expectTensorsClose([0, 1.1, 2, 3.5, 4], [0, 1, 2, 3, 4])).toThrow(/index 3: actual 3\.5 vs expected 3/);
  });

  it('NaN and infinities never pass, on either side', () => {
    expect(() => expectTensorsClose([NaN], [1])).toThrow(/actual NaN/);
    expect(() => expectTensorsClose([1], [NaN])).toThrow(/expected NaN/);
    expect(() => expectTensorsClose([NaN], [NaN])).toThrow(/index 0/);
    expect(() => expectTensorsClose([Infinity], [1e30])).toThrow(/index 0/);
    expect(() => expectTensorsClose([0, NaN, 10], [0, 0, 0])).toThrow(/index 1: actual NaN/); // NaN is the worst miss
  });

  it('tensors: shapes must match as well as values; arrays and numbers compare by length', () => {
    const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
    expectTensorsClose(a, tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]));
    expect(() => expectTensorsClose(a, b)).toThrow(/shapes differ/);
    expectTensorsClose(a, [1, 2, 3, 4, 5, 6]); // an array has no shape to compare
    expect(() => expectTensorsClose(a, [1, 2, 3, 4, 5])).toThrow(/sizes differ/);
    expect(() => expectTensorsClose([1, 2], [1, 2, 3])).toThrow(/sizes differ/);
    expectTensorsClose(tf.scalar(2), 2);
    expect(() => expectTensorsClose(tf.scalar(2), 2.001)).toThrow(/index 0/);
    tf.dispose([a, b]);
  });
});

describe('expectNoLeak', () => {
  it('passes when fn returns fresh tensors (disposed for it) and frees its intermediates', async () => {
    const x = tf.tensor1d([1, 2, 3]);
    await expectNoLeak(() => tf.tidy(() => tf.mul(tf.add(x, 1), 2)));
    x.dispose();
  });

  it('fails when fn keeps one tensor per call, naming the count', async () => {
    const kept: tf.Tensor[] = [];
    await expect(expectNoLeak(() => void kept.push(tf.scalar(1)), 7)).rejects.toThrow(/leaked 7 tensors over 7 steps/);
    tf.dispose(kept);
  });

  it('fails for a single leaked tensor over many steps (no slack)', async () => {
    let calls = 0;
    const kept: tf.Tensor[] = [];
    const fn = () => {
      calls++;
      if (calls === 5) kept.push(tf.scalar(calls)); // one leak, on a call after the warm-up
      return tf.scalar(0);
    };
    await expect(expectNoLeak(fn, 10)).rejects.toThrow(/leaked 1 tensors over 10 steps/);
    tf.dispose(kept);
  });

  it('a cache filled on the first (warm-up) call is not a leak', async () => {
    let cache: tf.Tensor | undefined;
    await expectNoLeak(() => {
      cache ??= tf.scalar(3);
      return tf.add(cache, 1);
    });
    cache!.dispose();
  });

  it('awaits async functions before counting', async () => {
    const kept: tf.Tensor[] = [];
    const fn = async () => {
      await Promise.resolve();
      kept.push(tf.scalar(1));
    };
    await expect(expectNoLeak(fn, 3)).rejects.toThrow(/leaked 3 tensors/);
    tf.dispose(kept);
  });
});

describe('runOn and runOnExact', () => {
  beforeAll(() => {
    // A second backend, a cpu under another name with the cpu kernels, so runOn's choice of backend is observable.
    if (!tf.findBackend('cpu-twin')) {
      tf.registerBackend('cpu-twin', () => new MathBackendCPU());
      for (const k of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...k, backendName: 'cpu-twin' });
      (tf.findBackend('cpu-twin') as unknown as { firstUse: boolean }).firstUse = false; // no tfjs-node banner
    }
  });

  it('runs fn on the named backend, on tensors made there, and returns hand-checkable data', async () => {
    const seen: string[] = [];
    const r = await runOn('cpu-twin', { a: { data: Float32Array.from([1, 2, 3, 4]), shape: [2, 2] }, b: { data: Float32Array.from([10, 20]), shape: [2] } }, ({ a, b }) => {
      seen.push(tf.getBackend(), a!.dtype);
      return tf.add(a!, b!);
    });
    expect(seen).toEqual(['cpu-twin', 'float32']);
    expect(r.shape).toEqual([2, 2]);
    expect(r.data).toBeInstanceOf(Float32Array);
    expect(Array.from(r.data)).toEqual([11, 22, 13, 24]);
    await tf.setBackend('cpu');
  });

  it('frees the inputs and the output it made', async () => {
    await tf.setBackend('cpu');
    const before = tf.memory().numTensors;
    await runOn('cpu', { x: { data: Float32Array.from([1, 2]), shape: [2] } }, ({ x }) => tf.exp(x!));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('runOn refuses an int32 result (Float32Array would round it); runOnExact keeps it as Int32Array, exactly', async () => {
    const big = 2 ** 24 + 1; // the first integer float32 cannot hold
    expect(Math.fround(big)).not.toBe(big);
    const arrays = { x: { data: Int32Array.from([big, 2, big + 2, 4]), shape: [2, 2], dtype: 'int32' as const } };
    await expect(runOn('cpu', arrays, ({ x }) => tf.sum(x!, 0))).rejects.toThrow(/result is int32.*runOnExact/);
    const r = await runOnExact('cpu', arrays, ({ x }) => tf.sum(x!, 0));
    expect(r.dtype).toBe('int32');
    expect(r.data).toBeInstanceOf(Int32Array);
    expect(r.data).toEqual(Int32Array.from([2 * big + 2, 6])); // 33554436 would be 33554432 + 4 rounded in float32
    // toEqual on typed arrays sees the one-unit difference float32 rounding would make
    expect(() => expect(r.data).toEqual(Int32Array.from([2 * big + 3, 6]))).toThrow();
  });
});

describe('sizeOf, dilateFilter and undilateFilter', () => {
  it('sizeOf multiplies the dims; a scalar has one element', () => {
    expect(sizeOf([2, 3, 4])).toBe(24);
    expect(sizeOf([])).toBe(1);
    expect(sizeOf([5, 0])).toBe(0);
  });

  it('dilateFilter places the taps d apart with zeros between (worked by hand), and undilateFilter inverts it', () => {
    // [2,2,1,1] taps 1 2 / 3 4, d = 2 -> [3,3,1,1]: 1 0 2 / 0 0 0 / 3 0 4
    const { data, shape } = dilateFilter(Float32Array.from([1, 2, 3, 4]), [2, 2, 1, 1], 2);
    expect(shape).toEqual([3, 3, 1, 1]);
    expect(Array.from(data)).toEqual([1, 0, 2, 0, 0, 0, 3, 0, 4]);
    expect(Array.from(undilateFilter(data, [2, 2, 1, 1], 2))).toEqual([1, 2, 3, 4]);
    // channels stay innermost: [1,2,1,2] (two outputs) with d = 3 -> [1,4,1,2]
    const two = dilateFilter(Float32Array.from([1, -1, 2, -2]), [1, 2, 1, 2], 3);
    expect(two.shape).toEqual([1, 4, 1, 2]);
    expect(Array.from(two.data)).toEqual([1, -1, 0, 0, 0, 0, 2, -2]);
  });

  it("a conv with the dense filter equals tfjs's dilated conv on cpu", async () => {
    const x = Float32Array.from({ length: 1 * 7 * 7 * 2 }, (_, i) => Math.sin(i));
    const w = Float32Array.from({ length: 3 * 3 * 2 * 3 }, (_, i) => Math.cos(i));
    const dense = dilateFilter(w, [3, 3, 2, 3], 2);
    const dilated = await runOn('cpu', { x: { data: x, shape: [1, 7, 7, 2] }, w: { data: w, shape: [3, 3, 2, 3] } }, (t) =>
      tf.conv2d(t.x as tf.Tensor4D, t.w as tf.Tensor4D, 1, 'valid', 'NHWC', 2),
    );
    const viaDense = await runOn('cpu', { x: { data: x, shape: [1, 7, 7, 2] }, w: dense }, (t) => tf.conv2d(t.x as tf.Tensor4D, t.w as tf.Tensor4D, 1, 'valid'));
    expect(viaDense.shape).toEqual([1, 3, 3, 3]);
    expectTensorsClose(viaDense.data, dilated.data, { rtol: 1e-5, atol: 1e-5 });
  });
});
